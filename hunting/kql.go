// Package hunting builds Microsoft Defender XDR advanced-hunting (KQL) queries from incident evidence.
//
// Every value that reaches a query comes from an email or an alert and is hostile: a subject, a sender
// address or a URL is whatever the attacker wrote. Values enter a query only through String (or
// Obfuscated), which always produces exactly one KQL string literal, so no value can end a literal, start a
// comment or add an operator.
package hunting

import (
	"strings"
	"unicode/utf8"
)

// String returns s as a double-quoted KQL string literal that the Kusto lexer reads as exactly one string
// token, whatever s holds.
//
// It uses only the escapes that Kusto documents for string literals: \\ and \" for the backslash and the
// quote, \n, \r and \t for newline, carriage return and tab. Kusto has no escape that its documentation
// promises for other characters (the language library decodes \u and \x, but not reliably), so characters
// that must not appear raw in a query are replaced, deterministically, with U+FFFD: each byte of invalid
// UTF-8, the other C0 controls (NUL included), DEL, the C1 controls, U+2028 and U+2029 (line and paragraph
// separators), and the bidirectional embedding, override and isolate controls U+202A-U+202E and
// U+2066-U+2069 (they would make the query read differently from what it does). A value with such
// characters no longer matches its original exactly; Sanitize says whether that happened.
func String(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range Sanitize(s) {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Obfuscated returns s as an obfuscated KQL string literal, h"...": Kusto keeps its value out of its
// logs and traces. Use it for values that identify people, like recipient addresses. It is String with
// the h prefix, and as safe.
func Obfuscated(s string) string { return "h" + String(s) }

// Sanitize returns the value that String writes for s: s with each byte of invalid UTF-8 and each
// character that cannot appear in a KQL literal (see String) replaced by U+FFFD. Sanitize(s) != s says the
// literal will not match s exactly.
func Sanitize(s string) string {
	clean := true
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") || replaced(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") || replaced(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// replaced reports whether String replaces r with U+FFFD.
func replaced(r rune) bool {
	switch {
	case r == '\n' || r == '\r' || r == '\t':
		return false // escaped
	case r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f:
		return true // C0 controls, DEL, C1 controls
	case r == 0x2028 || r == 0x2029:
		return true // line and paragraph separators
	case 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069:
		return true // bidirectional embeddings, overrides and isolates
	}
	return false
}
