package hunting

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/guided-response/guided/incident"
)

// Bounds on a similar-emails query: they keep the query small enough for advanced hunting whatever the
// evidence holds. Values beyond them are dropped or shortened, deterministically, and said so in the
// query's notes.
const (
	// MaxValues is the most URLs, and the most attachment hashes, one query matches on.
	MaxValues = 50
	// MaxValueLength is the longest value, in characters, a query holds; a longer value is matched by its
	// first MaxValueLength characters (a prefix match).
	MaxValueLength = 2048
	// DefaultLookback is the lookback of a query whose input does not set one.
	DefaultLookback = 30 * 24 * time.Hour
	// MaxLookback is the longest lookback: advanced hunting keeps 30 days of data.
	MaxLookback = 30 * 24 * time.Hour
)

// ErrNothingToMatch says a similar-emails input has no sender, domain, IP, subject, URL or attachment hash
// left to match on.
var ErrNothingToMatch = errors.New("nothing to match similar emails on")

// SimilarEmailsInput is what "View similar emails" matches on. Every field is attacker-controlled. An empty
// field is not matched on; similar emails are those within the lookback that match any of the rest.
type SimilarEmailsInput struct {
	// Sender is the sender's address (EmailEvents.SenderFromAddress, the From header), matched ignoring
	// case.
	Sender string `json:"sender,omitempty"`
	// SenderDomain is the sender's domain (EmailEvents.SenderFromDomain), matched ignoring case. It widens
	// the search to everyone at the domain: leave it empty for shared mail domains.
	SenderDomain string `json:"senderDomain,omitempty"`
	// SenderIP is the sending server's IPv4 or IPv6 address; an invalid one is dropped.
	SenderIP string `json:"senderIp,omitempty"`
	// Subject is matched exactly.
	Subject string `json:"subject,omitempty"`
	// URLs are matched exactly against EmailUrlInfo.Url; at most MaxValues of them are used.
	URLs []string `json:"urls,omitempty"`
	// AttachmentSHA256s are matched against EmailAttachmentInfo.SHA256; values that are not 64 hex digits
	// are dropped, and at most MaxValues of them are used.
	AttachmentSHA256s []string `json:"attachmentSha256s,omitempty"`
	// NetworkMessageID is the message the search starts from: it is always part of the result, marked by
	// the IsOriginalMessage column.
	NetworkMessageID string `json:"networkMessageId,omitempty"`
	// Lookback is how far back to search: DefaultLookback when zero, rounded up to whole days, at most
	// MaxLookback.
	Lookback time.Duration `json:"lookback,omitempty"`
}

// SimilarEmails is a similar-emails query and what was left out or changed to build it.
type SimilarEmails struct {
	// Query is the advanced-hunting KQL query.
	Query string `json:"query"`
	// Notes say, without repeating any value, what was dropped, shortened or altered, and why.
	Notes []string `json:"notes,omitempty"`
}

// FromMessage returns the similar-emails input for an analyzed message: its sender (the From header,
// else the envelope sender), sender IP, subject, URLs, attachment hashes and network message id. It leaves
// SenderDomain empty: matching a whole domain finds too much when the domain is a shared mail provider's;
// set it to widen the search. A nil message gives an empty input.
func FromMessage(m *incident.AnalyzedMessage) SimilarEmailsInput {
	if m == nil {
		return SimilarEmailsInput{}
	}
	sender := m.P2Sender
	if sender == "" {
		sender = m.P1Sender
	}
	return SimilarEmailsInput{
		Sender:            sender,
		SenderIP:          m.SenderIP,
		Subject:           m.Subject,
		URLs:              append([]string(nil), m.URLs...),
		AttachmentSHA256s: append([]string(nil), m.AttachmentSHA256s...),
		NetworkMessageID:  m.NetworkMessageID,
	}
}

// SimilarEmailsOfIncident is the query for the incident's message whose entity key is key (its first
// message when key is empty): what the "View similar emails" card shows. Empty, without error, when the
// incident has no such message.
func SimilarEmailsOfIncident(inc *incident.Incident, key string) (string, error) {
	for _, e := range inc.Entities() {
		if e.AnalyzedMessage == nil || (key != "" && e.Key() != key) {
			continue
		}
		return SimilarEmailsQuery(FromMessage(e.AnalyzedMessage))
	}
	return "", nil
}

// SimilarEmailsQuery returns the advanced-hunting query that lists the emails similar to in: see
// BuildSimilarEmails, which also says what was left out.
func SimilarEmailsQuery(in SimilarEmailsInput) (string, error) {
	s, err := BuildSimilarEmails(in)
	if err != nil {
		return "", err
	}
	return s.Query, nil
}

// BuildSimilarEmails builds the advanced-hunting query for "View similar emails": the EmailEvents within
// the lookback sent by the sender, from the sender's domain or IP address, or with the subject, or whose
// NetworkMessageId is in EmailUrlInfo for one of the URLs or in EmailAttachmentInfo for one of the
// hashes; plus the original message. It projects Timestamp, NetworkMessageId, SenderFromAddress,
// RecipientEmailAddress, Subject, DeliveryAction, DeliveryLocation and IsOriginalMessage, newest first,
// and drops no row.
//
// Values enter the query only as String literals. An invalid IP address or hash is dropped, repeated URLs
// and hashes are used once, values beyond the bounds (MaxValues, MaxValueLength) are dropped or
// shortened; the notes say so. It returns an error wrapping ErrNothingToMatch when no value is left to
// match on, and an error when the lookback is negative.
func BuildSimilarEmails(in SimilarEmailsInput) (SimilarEmails, error) {
	b := &builder{}
	days, err := b.lookbackDays(in.Lookback)
	if err != nil {
		return SimilarEmails{}, err
	}
	since := fmt.Sprintf("| where Timestamp > ago(%dd)", days)

	sender := b.value("the sender", in.Sender)
	domain := b.value("the sender domain", in.SenderDomain)
	subject := b.value("the subject", in.Subject)
	original := b.value("the network message id", in.NetworkMessageID)
	var ipColumn, ip string
	if in.SenderIP != "" {
		ipColumn, ip = b.ip(in.SenderIP)
	}
	urls := b.urls(in.URLs)
	hashes := b.hashes(in.AttachmentSHA256s)
	if sender.empty() && domain.empty() && subject.empty() && ip == "" && len(urls) == 0 && len(hashes) == 0 {
		err := fmt.Errorf("%w: set a sender, sender domain, sender IP, subject, URL or attachment SHA-256", ErrNothingToMatch)
		if len(b.notes) > 0 {
			err = fmt.Errorf("%w (%s)", err, strings.Join(b.notes, "; "))
		}
		return SimilarEmails{Notes: b.notes}, err
	}

	// The email's own values first, then its URLs and attachments (through the let statements), then the
	// original message.
	var statement, criteria []string
	if !sender.empty() {
		criteria = append(criteria, sender.match("SenderFromAddress", false))
	}
	if !domain.empty() {
		criteria = append(criteria, domain.match("SenderFromDomain", false))
	}
	if ip != "" {
		criteria = append(criteria, ipColumn+" == "+String(ip))
	}
	if !subject.empty() {
		criteria = append(criteria, subject.match("Subject", true))
	}
	if !original.empty() {
		statement = append(statement, "let originalMessageId = "+String(original.text)+";")
	}
	if len(urls) > 0 {
		statement = append(statement,
			"let urlMessages = EmailUrlInfo",
			since,
			"| where "+matchAny("Url", urls),
			"| distinct NetworkMessageId;")
		criteria = append(criteria, "NetworkMessageId in (urlMessages)")
	}
	if len(hashes) > 0 {
		statement = append(statement,
			"let attachmentMessages = EmailAttachmentInfo",
			since,
			"| where "+matchAny("SHA256", hashes),
			"| distinct NetworkMessageId;")
		criteria = append(criteria, "NetworkMessageId in (attachmentMessages)")
	}
	isOriginal := "false"
	if !original.empty() {
		op := "=="
		if original.prefix {
			op = "startswith_cs"
		}
		criteria = append(criteria, "NetworkMessageId "+op+" originalMessageId")
		isOriginal = "NetworkMessageId " + op + " originalMessageId"
	}

	statement = append(statement,
		"EmailEvents",
		since,
		"| where "+strings.Join(criteria, "\n    or "),
		"| extend IsOriginalMessage = "+isOriginal,
		"| project Timestamp, NetworkMessageId, SenderFromAddress, RecipientEmailAddress, Subject, DeliveryAction, DeliveryLocation, IsOriginalMessage",
		"| order by Timestamp desc")
	return SimilarEmails{Query: strings.Join(statement, "\n"), Notes: b.notes}, nil
}

// value is a sanitized value, shortened to MaxValueLength characters; prefix says it was shortened and
// must be matched as a prefix.
type value struct {
	text   string
	prefix bool
}

func (v value) empty() bool { return v.text == "" }

// match renders the comparison of column with v: equality, or a prefix match for a shortened value; case
// sensitive or not.
func (v value) match(column string, caseSensitive bool) string {
	var op string
	switch {
	case v.prefix && caseSensitive:
		op = "startswith_cs"
	case v.prefix:
		op = "startswith"
	case caseSensitive:
		op = "=="
	default:
		op = "=~"
	}
	return column + " " + op + " " + String(v.text)
}

// matchAny renders "column in (exact values) or column startswith_cs prefix ...".
func matchAny(column string, values []value) string {
	var exact, terms []string
	for _, v := range values {
		if !v.prefix {
			exact = append(exact, String(v.text))
		}
	}
	if len(exact) > 0 {
		terms = append(terms, column+" in ("+strings.Join(exact, ", ")+")")
	}
	for _, v := range values {
		if v.prefix {
			terms = append(terms, v.match(column, true))
		}
	}
	return strings.Join(terms, " or ")
}

// builder collects the notes of one query.
type builder struct {
	notes []string
}

func (b *builder) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

func (b *builder) lookbackDays(lookback time.Duration) (int, error) {
	switch {
	case lookback < 0:
		return 0, fmt.Errorf("similar emails: lookback %s is negative: use a positive duration, or zero for %d days",
			lookback, DefaultLookback/(24*time.Hour))
	case lookback == 0:
		lookback = DefaultLookback
	case lookback > MaxLookback:
		b.note("the lookback was shortened to %d days: advanced hunting keeps no older data", MaxLookback/(24*time.Hour))
		lookback = MaxLookback
	}
	day := 24 * time.Hour
	return int((lookback + day - 1) / day), nil
}

// value sanitizes and bounds one value; what names it in notes.
func (b *builder) value(what, s string) value {
	v, altered := bound(s)
	b.noteValue(what, v, altered)
	return v
}

func (b *builder) noteValue(what string, v value, altered bool) {
	if altered {
		b.note("%s has characters a KQL literal cannot hold (controls, bidirectional overrides or invalid UTF-8); "+
			"they were replaced with U+FFFD, so it will not match exactly", what)
	}
	if v.prefix {
		b.note("%s is longer than %d characters; it is matched by its first %d", what, MaxValueLength, MaxValueLength)
	}
}

// bound sanitizes s and shortens it to MaxValueLength characters; altered says sanitizing changed it.
func bound(s string) (v value, altered bool) {
	if s == "" {
		return value{}, false
	}
	clean := Sanitize(s)
	altered = clean != s
	if utf8.RuneCountInString(clean) <= MaxValueLength {
		return value{text: clean}, altered
	}
	return value{text: firstRunes(clean, MaxValueLength), prefix: true}, altered
}

// urls bounds, sanitizes and deduplicates the URLs, keeping their order.
func (b *builder) urls(urls []string) []value {
	var kept []value
	seen := map[value]bool{}
	dropped := 0
	for k, u := range urls {
		if u == "" {
			continue
		}
		v, altered := bound(u)
		if seen[v] {
			continue
		}
		seen[v] = true
		if len(kept) == MaxValues {
			dropped++
			continue
		}
		b.noteValue(fmt.Sprintf("URL %d", k+1), v, altered)
		kept = append(kept, v)
	}
	if dropped > 0 {
		b.note("%d more URLs were left out: a query matches at most %d", dropped, MaxValues)
	}
	return kept
}

// hashes keeps the valid SHA-256 hashes, lower-cased and deduplicated, in order.
func (b *builder) hashes(hashes []string) []value {
	var kept []value
	seen := map[string]bool{}
	dropped := 0
	for k, h := range hashes {
		if h == "" {
			continue
		}
		if len(h) != 64 || !isHex(h) {
			b.note("attachment hash %d was dropped: a SHA-256 hash is 64 hex digits", k+1)
			continue
		}
		h = strings.ToLower(h)
		if seen[h] {
			continue
		}
		seen[h] = true
		if len(kept) == MaxValues {
			dropped++
			continue
		}
		kept = append(kept, value{text: h})
	}
	if dropped > 0 {
		b.note("%d more attachment hashes were left out: a query matches at most %d", dropped, MaxValues)
	}
	return kept
}

// ip parses the sender IP and returns the EmailEvents column for its family and its canonical form, or
// empty strings when it is not an IP address.
func (b *builder) ip(s string) (column, address string) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		b.note("the sender IP was dropped: it is not an IPv4 or IPv6 address")
		return "", ""
	}
	if addr.Zone() != "" {
		b.note("the sender IP's zone was dropped")
		addr = addr.WithZone("")
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return "SenderIPv4", addr.String()
	}
	return "SenderIPv6", addr.String()
}

func isHex(s string) bool {
	for k := 0; k < len(s); k++ {
		c := s[k]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// firstRunes returns the first n characters of s.
func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
