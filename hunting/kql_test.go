package hunting

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The tests hold every query to one claim: whatever the evidence holds, the query has exactly the string
// literals meant, each decodes back to the sanitized value, and nothing from the evidence is outside a
// literal. lexKQL below is a small model of the Kusto lexer (Kusto.Language's lexical grammar and the
// string-literal rules of the KQL documentation) that the claims are checked with.

type tokenKind int

const (
	tokIdent tokenKind = iota
	tokNumber
	tokString
	tokPunct
	tokComment
)

func (k tokenKind) String() string {
	return [...]string{"ident", "number", "string", "punct", "comment"}[k]
}

type token struct {
	kind tokenKind
	text string // the source text
	// value is a string literal's decoded value; obfuscated says it had the h prefix, verbatim the @.
	value      string
	obfuscated bool
	verbatim   bool
}

// twoCharPunct are Kusto's two-character operators; the rest of the punctuation is one character.
var twoCharPunct = []string{"==", "=~", "!=", "!~", "<=", ">=", "=>", "..", "<>"}

const oneCharPunct = "|(),;=<>.[]{}+-*/%!:?@"

// lexKQL splits a query into tokens the way Kusto does: whitespace separates tokens; // starts a comment to
// the end of the line; "..." and '...' are string literals with backslash escapes that end at the
// matching quote and may not contain a raw line break; @"..." and @'...' are verbatim literals (a doubled
// quote is one quote); a literal may have the h or H prefix (obfuscated); ```...``` is a multi-line
// literal. Characters that Kusto does not allow outside a literal are an error.
func lexKQL(q string) ([]token, error) {
	var tokens []token
	for i := 0; i < len(q); {
		c := q[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(q[i:], "//"):
			end := strings.IndexAny(q[i:], "\r\n")
			if end < 0 {
				end = len(q) - i
			}
			i += end
			tokens = append(tokens, token{kind: tokComment, text: q[start:i]})
		case strings.HasPrefix(q[i:], "```"):
			end := strings.Index(q[i+3:], "```")
			if end < 0 {
				return nil, fmt.Errorf("offset %d: unterminated multi-line literal", i)
			}
			i += 3 + end + 3
			tokens = append(tokens, token{kind: tokString, text: q[start:i], value: q[start+3 : i-3], verbatim: true})
		case isStringStart(q[i:]):
			tok, n, err := lexString(q[i:])
			if err != nil {
				return nil, fmt.Errorf("offset %d: %w", i, err)
			}
			i += n
			tokens = append(tokens, tok)
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			for i < len(q) && (q[i] == '_' || isAlnum(q[i])) {
				i++
			}
			tokens = append(tokens, token{kind: tokIdent, text: q[start:i]})
		case '0' <= c && c <= '9':
			for i < len(q) && isAlnum(q[i]) {
				i++
			}
			tokens = append(tokens, token{kind: tokNumber, text: q[start:i]})
		default:
			n := 0
			for _, p := range twoCharPunct {
				if strings.HasPrefix(q[i:], p) {
					n = 2
					break
				}
			}
			if n == 0 && strings.IndexByte(oneCharPunct, c) >= 0 {
				n = 1
			}
			if n == 0 {
				r, _ := utf8.DecodeRuneInString(q[i:])
				return nil, fmt.Errorf("offset %d: %q outside a literal", i, r)
			}
			i += n
			tokens = append(tokens, token{kind: tokPunct, text: q[start:i]})
		}
	}
	return tokens, nil
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isStringStart reports whether s starts a string literal: an optional h or H, an optional @, a quote.
func isStringStart(s string) bool {
	if s != "" && (s[0] == 'h' || s[0] == 'H') {
		s = s[1:]
	}
	if s != "" && s[0] == '@' {
		s = s[1:]
	}
	return s != "" && (s[0] == '"' || s[0] == '\'')
}

var errUnterminated = errors.New("unterminated string literal")

// lexString reads the string literal at the start of s and returns it and its length.
func lexString(s string) (token, int, error) {
	tok := token{kind: tokString}
	i := 0
	if s[i] == 'h' || s[i] == 'H' {
		tok.obfuscated = true
		i++
	}
	if s[i] == '@' {
		tok.verbatim = true
		i++
	}
	quote := s[i]
	i++
	var value strings.Builder
	for {
		if i >= len(s) {
			return token{}, 0, errUnterminated
		}
		c := s[i]
		switch {
		case c == '\n' || c == '\r':
			return token{}, 0, errUnterminated
		case c == quote && tok.verbatim:
			if i+1 < len(s) && s[i+1] == quote {
				value.WriteByte(quote)
				i += 2
				continue
			}
			i++
			tok.text, tok.value = s[:i], value.String()
			return tok, i, nil
		case c == quote:
			i++
			tok.text, tok.value = s[:i], value.String()
			return tok, i, nil
		case c == '\\' && !tok.verbatim:
			if i+1 >= len(s) {
				return token{}, 0, errUnterminated
			}
			decoded, ok := map[byte]string{
				'\\': `\`, '"': `"`, '\'': `'`, 'n': "\n", 'r': "\r", 't': "\t",
				'a': "\a", 'b': "\b", 'f': "\f", 'v': "\v",
			}[s[i+1]]
			if !ok {
				return token{}, 0, fmt.Errorf("escape \\%c: String must not emit escapes beyond the documented ones", s[i+1])
			}
			value.WriteString(decoded)
			i += 2
		default:
			value.WriteByte(c)
			i++
		}
	}
}

// skeleton renders the tokens with every string literal replaced by a placeholder: two queries with equal
// skeletons differ only inside literals.
func skeleton(tokens []token) string {
	parts := make([]string, len(tokens))
	for k, t := range tokens {
		if t.kind == tokString {
			parts[k] = "<string>"
		} else {
			parts[k] = t.text
		}
	}
	return strings.Join(parts, " ")
}

// refSanitize is the specification of Sanitize, written independently: invalid UTF-8 bytes, control
// characters other than \n \r \t, the line and paragraph separators and the bidirectional embedding,
// override and isolate controls become U+FFFD.
func refSanitize(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case r == utf8.RuneError && size == 1:
			r = '\uFFFD'
		case r == '\n' || r == '\r' || r == '\t':
		case unicode.IsControl(r), r == '\u2028', r == '\u2029',
			'\u202A' <= r && r <= '\u202E', '\u2066' <= r && r <= '\u2069':
			r = '\uFFFD'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hostile are values an attacker can put in a subject, a sender or a URL.
var hostile = []string{
	``,
	`plain subject`,
	`"`,
	`\`,
	`\"`,
	`"\`,
	`\\"`,
	`'`,
	`''`,
	`@"`,
	`@"x""`,
	`h"`,
	`"; EmailEvents | take 1000 //`,
	`" or 1 == 1 or Subject == "`,
	`' or '1' == '1`,
	"x\" | where true //\n| take 1",
	"line one\nline two",
	"carriage\rreturn",
	"crlf\r\n| take 1",
	"tab\there",
	"| invoke",
	"```",
	"``` | take 1 ```",
	`// comment`,
	`/* block */`,
	`\u0022`,
	`\x22`,
	`\042`,
	"nul\x00byte",
	"bell\a form\f vtab\v esc\x1b[31m",
	"del\x7f c1\u0085\u009b",
	"\u2028sep\u2029",
	"\u202Egnp.exe",
	"\u2066isolate\u2069 \u202Aembed\u202C",
	"\u200Fmark\u200E",
	"invalid \xff\xfe utf-8 \xc3(",
	"truncated \xe2\x82",
	"\uFFFD already",
	"emoji 😀 and 中文",
	"{{template}} $(subst) ${x}",
	strings.Repeat(`"`, 3000),
	strings.Repeat("a", MaxValueLength),
	strings.Repeat("b", MaxValueLength+1),
	strings.Repeat("é", MaxValueLength+5) + `"; take 1 //`,
	strings.Repeat(`\"`, 5000),
}

func TestString(t *testing.T) {
	for _, s := range hostile {
		t.Run(fmt.Sprintf("%.40q", s), func(t *testing.T) {
			lit := String(s)
			tokens, err := lexKQL(lit)
			if err != nil {
				t.Fatalf("String(%q) = %q does not lex: %v", s, lit, err)
			}
			if len(tokens) != 1 || tokens[0].kind != tokString || tokens[0].verbatim || tokens[0].obfuscated {
				t.Fatalf("String(%q) = %q lexes to %d tokens, want one plain string literal", s, lit, len(tokens))
			}
			want := refSanitize(s)
			if tokens[0].value != want {
				t.Errorf("String(%q) decodes to %q, want %q", s, tokens[0].value, want)
			}
			if got := Sanitize(s); got != want {
				t.Errorf("Sanitize(%q) = %q, want %q", s, got, want)
			}
			assertDisplaySafe(t, lit)

			obf := Obfuscated(s)
			tokens, err = lexKQL(obf)
			if err != nil || len(tokens) != 1 || !tokens[0].obfuscated || tokens[0].value != want {
				t.Errorf("Obfuscated(%q) = %q: tokens %v, error %v", s, obf, tokens, err)
			}
		})
	}
}

// assertDisplaySafe checks that a literal holds no character that breaks a line or reorders the text
// around it when the query is shown.
func assertDisplaySafe(t *testing.T, lit string) {
	t.Helper()
	if !utf8.ValidString(lit) {
		t.Errorf("literal %q is not valid UTF-8", lit)
	}
	for _, r := range lit {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' ||
			'\u202A' <= r && r <= '\u202E' || '\u2066' <= r && r <= '\u2069' {
			t.Errorf("literal %q holds %U raw", lit, r)
		}
	}
}

func TestStringExamples(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `""`},
		{`abc`, `"abc"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"a\nb\rc\td", `"a\nb\rc\td"`},
		{`'@`, `"'@"`},
		{"nul\x00", "\"nul\uFFFD\""},
		{"\xff", "\"\uFFFD\""},
		{"\u202Eabc", "\"\uFFFDabc\""},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestLexKQL checks the checker: it must see through the tricks the tests rely on it to catch.
func TestLexKQL(t *testing.T) {
	tests := []struct {
		query    string
		literals []string
		comments int
		wantErr  bool
	}{
		{query: `T | where a == "x\"y"`, literals: []string{`x"y`}},
		{query: `T | where a == "x" // "y"`, literals: []string{"x"}, comments: 1},
		{query: `T | where a == "x"; T | take 1000 //"`, literals: []string{"x"}, comments: 1},
		{query: `T | where a == 'it''s'`, wantErr: false, literals: []string{"it", "s"}},
		{query: `T | where a == @"c:\dir"`, literals: []string{`c:\dir`}},
		{query: `T | where a == @"say ""hi"""`, literals: []string{`say "hi"`}},
		{query: `T | where a == h"secret"`, literals: []string{"secret"}},
		{query: "T | where a == ```multi\nline```", literals: []string{"multi\nline"}},
		{query: "T | where a == \"broken\nline\"", wantErr: true},
		{query: `T | where a == "unterminated`, wantErr: true},
		{query: `T | where a == "\u0041"`, wantErr: true},
		{query: "T | where a == \u00e9", wantErr: true},
	}
	for _, tt := range tests {
		tokens, err := lexKQL(tt.query)
		if (err != nil) != tt.wantErr {
			t.Errorf("lexKQL(%q): error %v, want error %v", tt.query, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		var literals []string
		comments := 0
		for _, tok := range tokens {
			switch tok.kind {
			case tokString:
				literals = append(literals, tok.value)
			case tokComment:
				comments++
			}
		}
		if fmt.Sprint(literals) != fmt.Sprint(tt.literals) || comments != tt.comments {
			t.Errorf("lexKQL(%q): literals %q and %d comments, want %q and %d", tt.query, literals, comments, tt.literals, tt.comments)
		}
	}
}
