package summary

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// oneLine makes outside text safe to show as one line of plain text: each byte of invalid UTF-8, each
// control character and each bidirectional override becomes U+FFFD, and every run of white space (line
// breaks included) one space, trimmed.
func oneLine(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			r = utf8.RuneError
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r) || isBidiControl(r):
			r = utf8.RuneError
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// isBidiControl reports whether r is a bidirectional embedding, override or isolate control: shown, they
// can make text read differently from what it is (a file "gnp.exe" that reads "exe.png").
func isBidiControl(r rune) bool {
	return 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069
}

// cut shortens s to at most n characters, ending a shortened text with "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	k := 0
	for i := range s {
		if k == n-1 {
			return s[:i] + "…"
		}
		k++
	}
	return s
}

// markdownEscaped are the ASCII characters that escapeMarkdown backslash-escapes: every one that can start
// or end Markdown markup (emphasis, code, links, images, headings, lists, block quotes, tables,
// strikethrough, math) or an autolink (":" of a scheme, "." of a www. or bare domain, "@" of an email
// address). The others are plain text everywhere.
const markdownEscaped = "\\`*_{}[]()#+-.!|~:@$=^"

// escapeMarkdown makes outside text safe to put in Markdown as plain inline text: on one line, with the
// Markdown specials backslash-escaped and &, < and > written as entities, so that it renders as the text
// it is, with no markup, link, image or HTML.
func escapeMarkdown(s string) string {
	s = oneLine(s)
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r < utf8.RuneSelf && strings.ContainsRune(markdownEscaped, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// codeSpan puts outside text in a Markdown code span: on one line, with each backtick replaced by U+FF40
// (a code span cannot hold the backtick that delimits it, and backslashes do not escape inside one). The
// text inside a code span is never markup, a link or HTML. Empty text gives an empty string.
func codeSpan(s string) string {
	s = strings.ReplaceAll(oneLine(s), "`", "\uFF40")
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func itoa(n int) string { return strconv.Itoa(n) }

// count renders "1 alert", "3 alerts".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}
