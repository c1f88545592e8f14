package hunting

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/guided-response/guided/incident"
)

const (
	sha1Hex = "46f9dc49c0f300432bcbaa341e57d5998679d7e7a4b1c250bd6ac3e77897853d"
	sha2Hex = "0c5ff1bc9705e7a6a5c6b6a249cf81be6ffa94ea88a9f678b3d354ed140d1679"
)

// refValue is the specification of one bounded value: sanitized, then cut to MaxValueLength characters
// (and matched as a prefix when cut).
type refValue struct {
	text   string
	prefix bool
}

func refBound(s string) refValue {
	clean := refSanitize(s)
	if utf8.RuneCountInString(clean) <= MaxValueLength {
		return refValue{text: clean}
	}
	return refValue{text: string([]rune(clean)[:MaxValueLength]), prefix: true}
}

// refURLs are the URLs a query keeps: non-empty, bounded, first occurrence of each, at most MaxValues.
func refURLs(urls []string) []refValue {
	var kept []refValue
	for _, u := range urls {
		if u == "" {
			continue
		}
		v := refBound(u)
		if !slices.Contains(kept, v) && len(kept) < MaxValues {
			kept = append(kept, v)
		}
	}
	return kept
}

// refHashes are the hashes a query keeps: 64 hex digits, lower-cased, first occurrence, at most MaxValues.
func refHashes(hashes []string) []string {
	var kept []string
	for _, h := range hashes {
		if len(h) != 64 || strings.Trim(strings.ToLower(h), "0123456789abcdef") != "" {
			continue
		}
		h = strings.ToLower(h)
		if !slices.Contains(kept, h) && len(kept) < MaxValues {
			kept = append(kept, h)
		}
	}
	return kept
}

func refIP(s string) string {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return addr.WithZone("").Unmap().String()
}

// refLiterals are the literals a similar-emails query must hold, in order: the original message id, the
// exact URLs then the URL prefixes, the hashes, then sender, domain, IP and subject. ok is false when
// nothing is left to match on.
func refLiterals(in SimilarEmailsInput) (literals []string, ok bool) {
	urls, hashes, ip := refURLs(in.URLs), refHashes(in.AttachmentSHA256s), refIP(in.SenderIP)
	if in.Sender == "" && in.SenderDomain == "" && in.Subject == "" && ip == "" && len(urls) == 0 && len(hashes) == 0 {
		return nil, false
	}
	if in.NetworkMessageID != "" {
		literals = append(literals, refBound(in.NetworkMessageID).text)
	}
	for _, prefix := range []bool{false, true} {
		for _, u := range urls {
			if u.prefix == prefix {
				literals = append(literals, u.text)
			}
		}
	}
	literals = append(literals, hashes...)
	for _, s := range []string{in.Sender, in.SenderDomain} {
		if s != "" {
			literals = append(literals, refBound(s).text)
		}
	}
	if ip != "" {
		literals = append(literals, ip)
	}
	if in.Subject != "" {
		literals = append(literals, refBound(in.Subject).text)
	}
	return literals, true
}

// twin returns an input of the same shape as in (the same fields set, the same values cut, the same URLs
// repeated) whose every free-text value is harmless. A query and its twin's must have equal skeletons:
// then nothing from the input is outside a literal.
func twin(in SimilarEmailsInput) SimilarEmailsInput {
	benign := func(s, name string) string {
		switch {
		case s == "":
			return ""
		case refBound(s).prefix:
			return name + strings.Repeat("x", MaxValueLength)
		}
		return name
	}
	out := in
	out.Sender = benign(in.Sender, "sender")
	out.SenderDomain = benign(in.SenderDomain, "domain")
	out.Subject = benign(in.Subject, "subject")
	out.NetworkMessageID = benign(in.NetworkMessageID, "message")
	out.URLs = nil
	names := map[refValue]string{}
	for _, u := range in.URLs {
		if u == "" {
			out.URLs = append(out.URLs, "")
			continue
		}
		v := refBound(u)
		if _, ok := names[v]; !ok {
			names[v] = benign(u, fmt.Sprintf("url%d", len(names)))
		}
		out.URLs = append(out.URLs, names[v])
	}
	// SenderIP and the hashes are kept: only their canonical forms reach the query.
	return out
}

// checkSimilarEmails asserts the query invariants for one input.
func checkSimilarEmails(t *testing.T, in SimilarEmailsInput) SimilarEmails {
	t.Helper()
	got, err := BuildSimilarEmails(in)
	wantLiterals, ok := refLiterals(in)
	if in.Lookback < 0 {
		if err == nil {
			t.Fatalf("negative lookback %s: no error", in.Lookback)
		}
		return got
	}
	if !ok {
		if !errors.Is(err, ErrNothingToMatch) {
			t.Fatalf("nothing to match on: error %v, want ErrNothingToMatch", err)
		}
		if got.Query != "" {
			t.Fatalf("nothing to match on: query %q, want none", got.Query)
		}
		return got
	}
	if err != nil {
		t.Fatalf("BuildSimilarEmails: %v", err)
	}
	tokens, err := lexKQL(got.Query)
	if err != nil {
		t.Fatalf("query does not lex: %v\n%s", err, got.Query)
	}
	var literals []string
	for _, tok := range tokens {
		switch tok.kind {
		case tokComment:
			t.Fatalf("query has a comment %q\n%s", tok.text, got.Query)
		case tokString:
			if tok.verbatim || tok.obfuscated || tok.text[0] != '"' {
				t.Errorf("literal %q is not a plain double-quoted literal", tok.text)
			}
			assertDisplaySafe(t, tok.text)
			literals = append(literals, tok.value)
		}
	}
	if !slices.Equal(literals, wantLiterals) {
		t.Fatalf("query literals\n%q\nwant\n%q\nquery:\n%s", literals, wantLiterals, got.Query)
	}
	twinQuery, err := SimilarEmailsQuery(twin(in))
	if err != nil {
		t.Fatalf("twin query: %v", err)
	}
	twinTokens, err := lexKQL(twinQuery)
	if err != nil {
		t.Fatalf("twin query does not lex: %v", err)
	}
	if a, b := skeleton(tokens), skeleton(twinTokens); a != b {
		t.Fatalf("text outside literals depends on the values:\n%s\ntwin:\n%s", a, b)
	}
	for _, n := range got.Notes {
		if !utf8.ValidString(n) || strings.ContainsAny(n, "\"\n") {
			t.Errorf("note %q repeats a value or breaks a line", n)
		}
	}
	return got
}

func TestSimilarEmailsHostile(t *testing.T) {
	for k, h := range hostile {
		in := SimilarEmailsInput{
			Sender:            h,
			SenderDomain:      h,
			SenderIP:          h,
			Subject:           h,
			URLs:              []string{h, "https://ok.example/" + h, h},
			AttachmentSHA256s: []string{h, sha1Hex},
			NetworkMessageID:  h,
		}
		t.Run(fmt.Sprintf("%d", k), func(t *testing.T) { checkSimilarEmails(t, in) })
	}
}

func TestSimilarEmails(t *testing.T) {
	manyURLs := make([]string, 60)
	for k := range manyURLs {
		manyURLs[k] = fmt.Sprintf("https://evil.example/%d", k%55)
	}
	tests := []struct {
		name      string
		in        SimilarEmailsInput
		wantErr   error
		contains  []string
		lacks     []string
		wantNotes []string
	}{
		{
			name:     "sender only",
			in:       SimilarEmailsInput{Sender: "a@evil.example"},
			contains: []string{`| where Timestamp > ago(30d)`, `SenderFromAddress =~ "a@evil.example"`, "IsOriginalMessage = false"},
			lacks:    []string{"EmailUrlInfo", "EmailAttachmentInfo", "originalMessageId"},
		},
		{
			name:     "domain",
			in:       SimilarEmailsInput{SenderDomain: "evil.example"},
			contains: []string{`SenderFromDomain =~ "evil.example"`},
		},
		{
			name:     "IPv4",
			in:       SimilarEmailsInput{SenderIP: "203.0.113.45"},
			contains: []string{`SenderIPv4 == "203.0.113.45"`},
			lacks:    []string{"SenderIPv6"},
		},
		{
			name:     "IPv6 canonical",
			in:       SimilarEmailsInput{SenderIP: "2001:DB8:0:0::7"},
			contains: []string{`SenderIPv6 == "2001:db8::7"`},
		},
		{
			name:     "IPv4-mapped IPv6",
			in:       SimilarEmailsInput{SenderIP: "::ffff:198.51.100.7"},
			contains: []string{`SenderIPv4 == "198.51.100.7"`},
		},
		{
			name:      "IPv6 with zone",
			in:        SimilarEmailsInput{SenderIP: `fe80::1%eth0" | take 1 //`},
			contains:  []string{`SenderIPv6 == "fe80::1"`},
			lacks:     []string{"take"},
			wantNotes: []string{"zone was dropped"},
		},
		{
			name:      "invalid IP only",
			in:        SimilarEmailsInput{SenderIP: `1.2.3.4" or true or "`},
			wantErr:   ErrNothingToMatch,
			wantNotes: []string{"sender IP was dropped"},
		},
		{
			name:     "subject exact",
			in:       SimilarEmailsInput{Subject: `Invoice "INV-1" \ due`},
			contains: []string{`Subject == "Invoice \"INV-1\" \\ due"`},
		},
		{
			name:      "long subject is a prefix match",
			in:        SimilarEmailsInput{Subject: strings.Repeat("s", MaxValueLength+1)},
			contains:  []string{`Subject startswith_cs "` + strings.Repeat("s", MaxValueLength) + `"`},
			wantNotes: []string{"the subject is longer than 2048 characters"},
		},
		{
			name:      "altered subject",
			in:        SimilarEmailsInput{Subject: "pay\x00now"},
			contains:  []string{"Subject == \"pay\uFFFDnow\""},
			wantNotes: []string{"the subject has characters a KQL literal cannot hold"},
		},
		{
			name: "urls deduplicated and capped",
			in:   SimilarEmailsInput{URLs: append(manyURLs, "", "https://evil.example/0")},
			contains: []string{
				"let urlMessages = EmailUrlInfo", `"https://evil.example/49")`, "NetworkMessageId in (urlMessages)",
			},
			lacks:     []string{`"https://evil.example/50"`},
			wantNotes: []string{"5 more URLs were left out: a query matches at most 50"},
		},
		{
			name: "long url is a prefix match",
			in:   SimilarEmailsInput{URLs: []string{"https://a.example/", "https://b.example/" + strings.Repeat("p", 3000)}},
			contains: []string{
				`| where Url in ("https://a.example/") or Url startswith_cs "https://b.example/`,
			},
			wantNotes: []string{"URL 2 is longer than 2048 characters"},
		},
		{
			name: "hashes validated, lower-cased, deduplicated",
			in: SimilarEmailsInput{AttachmentSHA256s: []string{
				strings.ToUpper(sha1Hex), sha1Hex, sha2Hex, "not-a-hash", sha1Hex[:63] + "g", `"` + sha1Hex[1:],
			}},
			contains: []string{
				"let attachmentMessages = EmailAttachmentInfo",
				`| where SHA256 in ("` + sha1Hex + `", "` + sha2Hex + `")`,
				"NetworkMessageId in (attachmentMessages)",
			},
			wantNotes: []string{"attachment hash 4 was dropped", "attachment hash 5 was dropped", "attachment hash 6 was dropped"},
		},
		{
			name:      "only invalid hashes",
			in:        SimilarEmailsInput{AttachmentSHA256s: []string{"abc"}, NetworkMessageID: "m1"},
			wantErr:   ErrNothingToMatch,
			wantNotes: []string{"attachment hash 1 was dropped"},
		},
		{
			name:    "network message id alone is nothing to match on",
			in:      SimilarEmailsInput{NetworkMessageID: "a1b2"},
			wantErr: ErrNothingToMatch,
		},
		{
			name:    "empty",
			in:      SimilarEmailsInput{URLs: []string{""}},
			wantErr: ErrNothingToMatch,
		},
		{
			name: "original message kept and marked",
			in:   SimilarEmailsInput{Sender: "a@evil.example", NetworkMessageID: "a1b2"},
			contains: []string{
				`let originalMessageId = "a1b2";`,
				"or NetworkMessageId == originalMessageId",
				"| extend IsOriginalMessage = NetworkMessageId == originalMessageId",
			},
		},
		{
			name:     "lookback rounded up to days",
			in:       SimilarEmailsInput{Sender: "a@evil.example", Lookback: 36 * time.Hour},
			contains: []string{"ago(2d)"},
		},
		{
			name:     "lookback below a day",
			in:       SimilarEmailsInput{Sender: "a@evil.example", Lookback: time.Minute},
			contains: []string{"ago(1d)"},
		},
		{
			name:      "lookback capped",
			in:        SimilarEmailsInput{Sender: "a@evil.example", Lookback: 90 * 24 * time.Hour},
			contains:  []string{"ago(30d)"},
			wantNotes: []string{"shortened to 30 days"},
		},
		{
			name:    "negative lookback",
			in:      SimilarEmailsInput{Sender: "a@evil.example", Lookback: -time.Hour},
			wantErr: errors.New("negative"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BuildSimilarEmails(tt.in)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error: %v", err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("no error, want %v", tt.wantErr)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr) && !strings.Contains(err.Error(), tt.wantErr.Error()):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				checkSimilarEmails(t, tt.in)
			}
			for _, s := range tt.contains {
				if !strings.Contains(got.Query, s) {
					t.Errorf("query lacks %q:\n%s", s, got.Query)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(got.Query, s) {
					t.Errorf("query has %q:\n%s", s, got.Query)
				}
			}
			notes := strings.Join(got.Notes, "\n")
			for _, s := range tt.wantNotes {
				if !strings.Contains(notes, s) {
					t.Errorf("notes lack %q: %q", s, got.Notes)
				}
			}
			if len(tt.wantNotes) == 0 && len(got.Notes) > 0 {
				t.Errorf("unexpected notes %q", got.Notes)
			}
		})
	}
}

// TestFromMessage builds the query of the phishing email of the multi-stage test incident.
func TestFromMessage(t *testing.T) {
	incs, err := incident.ParseFile("../incident/testdata/graph_incident_multi.json")
	if err != nil {
		t.Fatal(err)
	}
	var message *incident.AnalyzedMessage
	for _, e := range incs[0].Entities() {
		if e.Kind == incident.KindAnalyzedMessage {
			message = e.AnalyzedMessage
		}
	}
	if message == nil {
		t.Fatal("no analyzed message in the test incident")
	}
	in := FromMessage(message)
	want := SimilarEmailsInput{
		Sender:           "billing@invoices-portal.example",
		SenderIP:         "203.0.113.45",
		Subject:          "Overdue invoice INV-20931 - action required",
		URLs:             []string{"https://invoices-portal.example/view?id=20931"},
		NetworkMessageID: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
	}
	if fmt.Sprintf("%#v", in) != fmt.Sprintf("%#v", want) {
		t.Fatalf("FromMessage =\n%#v\nwant\n%#v", in, want)
	}
	got := checkSimilarEmails(t, in)
	wantQuery := `let originalMessageId = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
let urlMessages = EmailUrlInfo
| where Timestamp > ago(30d)
| where Url in ("https://invoices-portal.example/view?id=20931")
| distinct NetworkMessageId;
EmailEvents
| where Timestamp > ago(30d)
| where SenderFromAddress =~ "billing@invoices-portal.example"
    or SenderIPv4 == "203.0.113.45"
    or Subject == "Overdue invoice INV-20931 - action required"
    or NetworkMessageId in (urlMessages)
    or NetworkMessageId == originalMessageId
| extend IsOriginalMessage = NetworkMessageId == originalMessageId
| project Timestamp, NetworkMessageId, SenderFromAddress, RecipientEmailAddress, Subject, DeliveryAction, DeliveryLocation, IsOriginalMessage
| order by Timestamp desc`
	if got.Query != wantQuery {
		t.Errorf("query:\n%s\nwant:\n%s", got.Query, wantQuery)
	}
	if len(got.Notes) != 0 {
		t.Errorf("notes %q, want none", got.Notes)
	}

	// The envelope sender stands in for a missing From address; the input does not share the message's
	// slices.
	m := &incident.AnalyzedMessage{P1Sender: "envelope@evil.example", URLs: []string{"https://u.example"}}
	in = FromMessage(m)
	in.URLs[0] = "changed"
	if in.Sender != "envelope@evil.example" || m.URLs[0] != "https://u.example" {
		t.Errorf("FromMessage(%+v) = %+v", m, in)
	}
	if got := FromMessage(nil); fmt.Sprint(got) != fmt.Sprint(SimilarEmailsInput{}) {
		t.Errorf("FromMessage(nil) = %+v, want empty", got)
	}
}

func FuzzSimilarEmailsQuery(f *testing.F) {
	f.Add("billing@invoices-portal.example", "", "203.0.113.45", "Overdue invoice INV-20931 - action required",
		"https://invoices-portal.example/view?id=20931", "", sha1Hex, "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", int64(0))
	for _, h := range hostile[:20] {
		f.Add(h, h, h, h, h, h, h, h, int64(24))
	}
	f.Fuzz(func(t *testing.T, sender, domain, ip, subject, url1, url2, hash, messageID string, lookbackHours int64) {
		in := SimilarEmailsInput{
			Sender:            sender,
			SenderDomain:      domain,
			SenderIP:          ip,
			Subject:           subject,
			URLs:              []string{url1, url2, url1},
			AttachmentSHA256s: []string{hash, sha2Hex},
			NetworkMessageID:  messageID,
			Lookback:          time.Duration(lookbackHours) * time.Hour,
		}
		checkSimilarEmails(t, in)
		// Without the valid hash the input may have nothing to match on; the invariants still hold.
		in.AttachmentSHA256s = []string{hash}
		checkSimilarEmails(t, in)
	})
}

func TestSimilarEmailsOfIncident(t *testing.T) {
	incs, err := incident.ParseFile("../incident/testdata/native_phishing.json")
	if err != nil {
		t.Fatal(err)
	}
	inc := &incs[0]
	var key string
	for _, e := range inc.Entities() {
		if e.AnalyzedMessage != nil {
			key = e.Key()
		}
	}
	if key == "" {
		t.Fatal("the phishing incident has no message")
	}
	want, err := SimilarEmailsQuery(FromMessage(func() *incident.AnalyzedMessage {
		for _, e := range inc.Entities() {
			if e.Key() == key {
				return e.AnalyzedMessage
			}
		}
		return nil
	}()))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{key, ""} {
		if got, err := SimilarEmailsOfIncident(inc, k); err != nil || got != want {
			t.Errorf("key %q: %v, query differs: %v", k, err, got != want)
		}
	}
	if got, err := SimilarEmailsOfIncident(inc, "email:none"); err != nil || got != "" {
		t.Errorf("an unknown key: %q, %v", got, err)
	}
	if got, err := SimilarEmailsOfIncident(&incident.Incident{}, ""); err != nil || got != "" {
		t.Errorf("no message: %q, %v", got, err)
	}
}
