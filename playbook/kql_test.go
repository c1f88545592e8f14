package playbook

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

// kqlLiteral is one string literal of a query: where it is in the text and the value Kusto reads from it.
type kqlLiteral struct {
	start, end int
	value      string
}

// literalsOf reads a KQL query the way Kusto reads its string literals, independently of the package's own
// lexer: "..." and '...' (with an optional h prefix) hold backslash escapes (\\ \" \' \n \r \t \uXXXX
// \UXXXXXXXX), may not hold a raw line break, and here may not hold a raw control character either, since
// KQLString escapes them all; // comments run to the end of the line. It fails the test on anything else
// it cannot read (verbatim and multi-line literals, unknown escapes, a literal that does not end). It
// returns the literals and the skeleton: the query with each literal replaced by <s> and comments removed.
func literalsOf(t testing.TB, q string) ([]kqlLiteral, string) {
	t.Helper()
	var lits []kqlLiteral
	var skeleton strings.Builder
	for i := 0; i < len(q); {
		switch {
		case strings.HasPrefix(q[i:], "//"):
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case strings.HasPrefix(q[i:], "```"), strings.HasPrefix(q[i:], "~~~"), q[i] == '@' && i+1 < len(q) && (q[i+1] == '"' || q[i+1] == '\''):
			t.Fatalf("unexpected verbatim or multi-line literal at %d in:\n%s", i, q)
		case q[i] == '"' || q[i] == '\'':
			quote, start := q[i], i
			var value strings.Builder
			i++
			for {
				if i >= len(q) {
					t.Fatalf("literal at %d does not end in:\n%s", start, q)
				}
				r, size := utf8.DecodeRuneInString(q[i:])
				if r == rune(quote) {
					i++
					break
				}
				if r == '\\' {
					if i+1 >= len(q) {
						t.Fatalf("escape at the end of:\n%s", q)
					}
					esc := q[i+1]
					i += 2
					switch esc {
					case '\\', '"', '\'':
						value.WriteByte(esc)
					case 'n':
						value.WriteByte('\n')
					case 'r':
						value.WriteByte('\r')
					case 't':
						value.WriteByte('\t')
					case 'u', 'U':
						n := 4
						if esc == 'U' {
							n = 8
						}
						if i+n > len(q) {
							t.Fatalf("short \\%c escape in:\n%s", esc, q)
						}
						code, err := strconv.ParseUint(q[i:i+n], 16, 32)
						if err != nil || code > utf8.MaxRune || (code >= 0xD800 && code <= 0xDFFF) {
							t.Fatalf("bad \\%c%s escape in:\n%s", esc, q[i:i+n], q)
						}
						value.WriteRune(rune(code))
						i += n
					default:
						t.Fatalf("unknown escape \\%c in:\n%s", esc, q)
					}
					continue
				}
				if r == '\n' || r == '\r' || r < 0x20 || r == 0x7F || r == 0x2028 || r == 0x2029 || (r >= 0x80 && r < 0xA0) ||
					(r >= 0x200B && r <= 0x200F) || (r >= 0x202A && r <= 0x202E) || (r >= 0xE0000 && r <= 0xE007F) ||
					(r == utf8.RuneError && size == 1) {
					t.Fatalf("raw %U inside the literal at %d in:\n%q", r, start, q)
				}
				value.WriteString(q[i : i+size])
				i += size
			}
			lits = append(lits, kqlLiteral{start, i, value.String()})
			skeleton.WriteString("<s>")
		default:
			skeleton.WriteByte(q[i])
			i++
		}
	}
	return lits, skeleton.String()
}

// hostile values: quotes, backslashes, line breaks, pipes, statement ends, comments, other literal forms,
// control, invisible and bidi characters, astral characters, invalid UTF-8.
var hostile = []string{
	`"; drop table DeviceEvents; //`,
	`\" | where 1==1 | project Secret //`,
	"line1\nline2\r\n| take 1",
	`back\slash\`,
	`trailing backslash \`,
	"pipe | union * | ",
	"tab\there",
	"nul\x00byte",
	"\u202eevil\u202c right-to-left",
	"zero\u200bwidth\ufeffbom",
	"emoji 😀 Ünïcödé 漢字",
	"sep\u2028line\u2029para",
	"tag\U000E0041\U000E007Fchars",
	"bad\xff\xfeutf8\xc3",
	"'single' quotes",
	"```multi``` ~~~tilde~~~",
	`h"obfuscated" @"verbatim""x"`,
	"\x7f del \u0085 nel \x1b[31m ansi",
	"",
}

// expectedValue is what a literal of s holds: s with each invalid UTF-8 byte replaced by U+FFFD.
func expectedValue(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

func TestKQLString(t *testing.T) {
	for _, v := range hostile {
		checkKQLString(t, v)
	}
	if got := KQLString("a\"b\\c\nd"); got != `"a\"b\\c\nd"` {
		t.Errorf("KQLString = %s", got)
	}
	if got := KQLString("\u202e\x00\U000E0041"); got != `"\u202E\u0000\U000E0041"` {
		t.Errorf("KQLString = %s", got)
	}
}

func checkKQLString(t testing.TB, v string) {
	t.Helper()
	lit := KQLString(v)
	lits, skeleton := literalsOf(t, lit)
	if len(lits) != 1 || skeleton != "<s>" || lits[0].value != expectedValue(v) {
		t.Fatalf("KQLString(%q) = %s: literals %+v, skeleton %q", v, lit, lits, skeleton)
	}
	if tokens, err := lexKQL(lit); err != nil || len(tokens) != 1 || tokens[0].kind != tokenString || tokens[0].end != len(lit) {
		t.Fatalf("package lexer on %s: %+v, %v", lit, tokens, err)
	}
}

func FuzzKQLString(f *testing.F) {
	for _, v := range hostile {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) { checkKQLString(t, v) })
}

// hostileIncident holds value in every place a default hunting query reads.
func hostileIncident(value string) *incident.Incident {
	return &incident.Incident{TenantID: "t", ID: "i", Title: value, Severity: incident.SeverityHigh, Alerts: []incident.Alert{{
		ID: "alert-" + value, Title: value, Severity: incident.SeverityHigh, Category: "InitialAccess",
		Entities: []incident.Entity{
			{Kind: incident.KindProcess, Verdict: incident.VerdictMalicious, Roles: []incident.Role{incident.RoleAttacker},
				Process: &incident.Process{ProcessID: 42, CommandLine: value, MdeDeviceID: "d", ImageFile: &incident.File{FileName: value}}},
			{Kind: incident.KindIP, Verdict: incident.VerdictSuspicious, IP: &incident.IP{Address: "ip-" + value}},
			{Kind: incident.KindURL, Verdict: incident.VerdictSuspicious, URL: &incident.URL{URL: "url-" + value}},
			{Kind: incident.KindFile, Verdict: incident.VerdictSuspicious, File: &incident.File{SHA256: "sha-" + value, FileName: value}},
			{Kind: incident.KindUser, Verdict: incident.VerdictMalicious, Roles: []incident.Role{incident.RoleCompromised},
				User: &incident.UserAccount{UserPrincipalName: "upn-" + value}},
			{Kind: incident.KindAnalyzedMessage, Verdict: incident.VerdictSuspicious, AnalyzedMessage: &incident.AnalyzedMessage{
				NetworkMessageID: "nm-" + value, RecipientEmailAddress: "r@contoso.com", P2Sender: "sender-" + value, Subject: value}},
		},
	}}}
}

// TestHostileValuesStayInOneLiteral renders the default hunting queries over an incident full of hostile
// values: each value must come out as exactly one string literal holding it, and the rest of the query must
// be the same as for a harmless value.
func TestHostileValuesStayInOneLiteral(t *testing.T) {
	set := defaultSet(t)
	benign := skeletons(t, set.Generate(hostileIncident("benign")))
	if len(benign) < 6 {
		t.Fatalf("only %d queries on the benign incident: %v", len(benign), benign)
	}
	for _, v := range hostile {
		cards, err := set.Evaluate(hostileIncident(v))
		if err != nil {
			t.Fatalf("value %q: %v", v, err)
		}
		got := skeletons(t, cards)
		for rule, skeleton := range benign {
			if got[rule] != skeleton {
				t.Errorf("value %q changes the query of %s:\n got %q\nwant %q", v, rule, got[rule], skeleton)
			}
		}
		want := expectedValue(v)
		expect := map[incident.EntityKind]string{
			"":                           "alert-" + want,
			incident.KindProcess:         want,
			incident.KindIP:              "ip-" + want,
			incident.KindURL:             "url-" + want,
			incident.KindFile:            expectedValue(strings.ToLower("sha-" + v)),
			incident.KindUser:            "upn-" + want,
			incident.KindAnalyzedMessage: "sender-" + want,
		}
		for _, c := range cards {
			if c.Query == "" {
				continue
			}
			var kind incident.EntityKind
			if c.Entity != nil {
				kind = c.Entity.Kind
			}
			if lits, _ := literalsOf(t, c.Query); !containsLiteral(lits, expect[kind]) {
				t.Errorf("value %q is not one literal of %s:\n%s", v, c.RuleID, c.Query)
			}
		}
	}
}

func containsLiteral(lits []kqlLiteral, value string) bool {
	for _, l := range lits {
		if l.value == value {
			return true
		}
	}
	return false
}

// skeletons maps each query card's playbook/rule/entity kind to its query's skeleton.
func skeletons(t *testing.T, cards []card.Card) map[string]string {
	out := map[string]string{}
	for _, c := range cards {
		if c.Query == "" {
			continue
		}
		kind := ""
		if c.Entity != nil {
			kind = string(c.Entity.Kind)
		}
		_, s := literalsOf(t, c.Query)
		out[c.PlaybookID+"/"+c.RuleID+"/"+kind] = s
	}
	return out
}
