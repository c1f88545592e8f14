package summary

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/guided-response/guided/incident"
)

// hostileText is what an attacker can put in an alert title, an email subject, a file name or a command
// line, aimed at the Markdown renderer of the Temporal UI or the web console.
var hostileText = []string{
	`<script>alert(1)</script>`,
	`<img src=x onerror=alert(1)>`,
	`[click here](https://evil.example/login)`,
	`![pixel](https://evil.example/track.png)`,
	`[ref]: https://evil.example "title"`,
	`<https://evil.example>`,
	`https://evil.example/phish and www.evil.example and evil.example`,
	`billing@evil.example`,
	`**bold** __bold__ *it* _it_ ~~strike~~ $x^2$`,
	"`code` ``double`` ```fence```",
	"# heading\n\n- list item\n1. numbered\n> quote\n---\n===",
	"line one\r\nline two\rline three\u2028line four\u2029\u0085five\vsix\fseven",
	`| a | b |`,
	`&lt;b&gt; &amp; &#x3C;script&#x3E;`,
	`\`,
	`\*not emphasis\*`,
	"\u202Egnp.exe",
	"nul\x00 esc\x1b[31m del\x7f",
	"invalid \xff\xfe utf-8",
	`{{template}} ${x} <%= x %>`,
	"    four spaces indented code",
	"<!-- comment -->",
	"a  \n  b", // trailing double space is a hard line break
}

// benignText replaces hostile text by harmless text of the same role.
const benignText = "plain"

// hostileIncident is an incident whose every outside text is s.
func hostileIncident(s string) *incident.Incident {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	return &incident.Incident{
		ID: "7", Title: s, Severity: incident.SeverityHigh, Status: incident.StatusActive,
		Alerts: []incident.Alert{{
			ID: "a1", Title: s, Description: s, Severity: incident.SeverityHigh, Status: incident.StatusNew,
			Category: s, MitreTechniques: []string{s}, CreatedAt: at,
			Entities: []incident.Entity{
				{Kind: incident.KindDevice, Verdict: incident.VerdictMalicious, Device: &incident.Device{DNSName: s, OSPlatform: s, RiskScore: s}},
				{Kind: incident.KindUser, Verdict: incident.VerdictSuspicious, User: &incident.UserAccount{UserPrincipalName: s}},
				{Kind: incident.KindAnalyzedMessage, Verdict: incident.VerdictMalicious, AnalyzedMessage: &incident.AnalyzedMessage{
					NetworkMessageID: "m1", Subject: s, P2Sender: s, RecipientEmailAddress: s}},
				{Kind: incident.KindProcess, Verdict: incident.VerdictMalicious, Process: &incident.Process{
					ProcessID: 4, CommandLine: s, ImageFile: &incident.File{FileName: s, FilePath: s, SHA256: s}}},
				{Kind: incident.KindURL, Verdict: incident.VerdictMalicious, URL: &incident.URL{URL: s}},
			},
		}},
	}
}

// structure is the markup the renderer writes itself at the start of a line.
var structure = regexp.MustCompile(`^(#{1,2} |- |\d+\. )`)

// markupLeft returns the Markdown-significant characters of a rendered line once the renderer's own
// markup (line prefixes, **), code spans, backslash escapes and the entities &amp; &lt; &gt; are taken
// out, reading the line as CommonMark does: for safe output, none.
func markupLeft(line string) string {
	line = structure.ReplaceAllString(line, "")
	line = strings.ReplaceAll(line, "**", "")
	var left []rune
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line) && isASCIIPunct(line[i+1]):
			i++ // an escaped character is text
		case c == '`':
			end := strings.IndexByte(line[i+1:], '`')
			if end < 0 {
				left = append(left, '`')
				continue
			}
			i += end + 1 // a code span is text
		case c == '&':
			if !strings.HasPrefix(line[i:], "&amp;") && !strings.HasPrefix(line[i:], "&lt;") && !strings.HasPrefix(line[i:], "&gt;") {
				left = append(left, '&')
			}
		case strings.IndexByte("\\*_[]!<>#|~@$=^{}", c) >= 0:
			left = append(left, rune(c))
		}
	}
	return string(left)
}

func isASCIIPunct(c byte) bool {
	return '!' <= c && c <= '/' || ':' <= c && c <= '@' || '[' <= c && c <= '`' || '{' <= c && c <= '~'
}

// shape is the Markdown's structure: each line's markup prefix.
func shape(md string) string {
	var lines []string
	for _, l := range strings.Split(md, "\n") {
		lines = append(lines, structure.FindString(l))
	}
	return strings.Join(lines, "|")
}

func TestRenderMarkdownHostile(t *testing.T) {
	benign := Summarize(hostileIncident(benignText)).Markdown
	for k, h := range hostileText {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			md := Summarize(hostileIncident(h)).Markdown
			// < and > may appear raw only inside code spans, where CommonMark shows them as text;
			// markupLeft below finds any outside.
			if strings.ContainsAny(md, "\r\u2028\u2029\u0085\v\f\x00\x1b\x7f\u202E") {
				t.Errorf("Markdown holds a raw line separator or control:\n%s", md)
			}
			for n, line := range strings.Split(md, "\n") {
				if left := markupLeft(line); left != "" {
					t.Errorf("line %d has unescaped markup %q: %s", n+1, left, line)
				}
				if strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t") {
					t.Errorf("line %d is indented code: %q", n+1, line)
				}
				if strings.HasSuffix(line, "  ") {
					t.Errorf("line %d ends with a hard break: %q", n+1, line)
				}
			}
			if got, want := shape(md), shape(benign); got != want {
				t.Errorf("the text changed the Markdown's structure:\n%s\nbenign:\n%s", md, benign)
			}
		})
	}
}

func TestEscapeMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, with commas; and 'quotes'?", "plain text, with commas; and 'quotes'?"},
		{"<script>", "&lt;script&gt;"},
		{"a & b", "a &amp; b"},
		{"[x](https://e.example)", `\[x\]\(https\://e\.example\)`},
		{"**b** _i_", `\*\*b\*\* \_i\_`},
		{"# h", `\# h`},
		{"1. item", `1\. item`},
		{"a\r\nb\n\nc", "a b c"},
		{"  spaced   out  ", "spaced out"},
		{"\u202Eexe", "\uFFFDexe"},
		{"\xff", "\uFFFD"},
		{"a\x00b", "a\uFFFDb"},
		{`back\slash`, `back\\slash`},
		{"user@example.com", `user\@example\.com`},
	}
	for _, tt := range tests {
		if got := escapeMarkdown(tt.in); got != tt.want {
			t.Errorf("escapeMarkdown(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCodeSpan(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"powershell.exe -Enc AAA", "`powershell.exe -Enc AAA`"},
		{"echo `whoami`", "`echo \uFF40whoami\uFF40`"},
		{"```", "`\uFF40\uFF40\uFF40`"},
		{"a\nb", "`a b`"},
		{`C:\dir\`, "`C:\\dir\\`"},
		{"<b>", "`<b>`"}, // a code span shows < and > as they are
	}
	for _, tt := range tests {
		if got := codeSpan(tt.in); got != tt.want {
			t.Errorf("codeSpan(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOneLineAndCut(t *testing.T) {
	if got := oneLine(" a\tb\n\nc \u00a0d "); got != "a b c d" {
		t.Errorf("oneLine = %q", got)
	}
	if got := oneLine("\uFFFD kept"); got != "\uFFFD kept" {
		t.Errorf("oneLine changed a real U+FFFD: %q", got)
	}
	if got := cut("abcdef", 4); got != "abc…" {
		t.Errorf("cut = %q", got)
	}
	if got := cut("ééé", 3); got != "ééé" {
		t.Errorf("cut = %q", got)
	}
}

// FuzzEscapeMarkdown checks that escaped text is one line with no markup left, whatever it was.
func FuzzEscapeMarkdown(f *testing.F) {
	for _, h := range hostileText {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, s string) {
		escaped := escapeMarkdown(s)
		if left := markupLeft(escaped); left != "" {
			t.Errorf("escapeMarkdown(%q) = %q leaves markup %q", s, escaped, left)
		}
		for _, r := range escaped {
			if r == '\n' || r == '<' || r == '>' || unicode.IsControl(r) || isBidiControl(r) {
				t.Errorf("escapeMarkdown(%q) = %q holds %U", s, escaped, r)
			}
		}
		code := codeSpan(s)
		if strings.Count(code, "`") != 0 && strings.Count(code, "`") != 2 || strings.ContainsRune(code, '\n') {
			t.Errorf("codeSpan(%q) = %q", s, code)
		}
	})
}
