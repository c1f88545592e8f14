package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/workflows"
)

// session is a browser-like client of the console: a cookie jar, no redirects followed.
type session struct {
	t    *testing.T
	f    *fixture
	c    *http.Client
	csrf string
}

type page struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) newSession(t *testing.T) *session {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &session{t: t, f: f, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *session) do(method, path string, form url.Values, header map[string]string) page {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.f.srv.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

var csrfAttr = regexp.MustCompile(`data-csrf="([^"]+)"`)

// signIn signs in with principal's token and keeps the form token of the first page.
func (s *session) signIn(principal string) {
	s.t.Helper()
	p := s.do("POST", "/console/sign-in", url.Values{"token": {s.f.tokens[principal]}, "next": {"/console/"}}, nil)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
		s.t.Fatalf("sign in as %s: %d %s %s", principal, p.status, p.header.Get("Location"), p.body)
	}
	q := s.do("GET", "/console/", nil, nil)
	m := csrfAttr.FindStringSubmatch(q.body)
	if q.status != http.StatusOK || m == nil {
		s.t.Fatalf("queue after sign-in: %d %s", q.status, q.body)
	}
	s.csrf = m[1]
}

// htmx posts a form as htmx does: the HX-Request header and the form token in X-CSRF-Token.
func (s *session) htmx(path string, form url.Values) page {
	s.t.Helper()
	return s.do("POST", path, form, map[string]string{"HX-Request": "true", "X-CSRF-Token": s.csrf, "Sec-Fetch-Site": "same-origin"})
}

func TestConsoleHandlers(t *testing.T) {
	f := newFixture(t)
	f.ingest("../incident/testdata/native_phishing.json")
	cards := f.cards("3201", alice)
	incPath := "/console/incidents/" + tenant + "/3201"
	var target workflows.CardView
	for _, cv := range cards.Cards {
		if cv.Category == card.CategoryContainment && cv.Available && cv.Action.Applicable() && cv.ApprovalsRequired <= 1 && cv.TimeBox == 0 {
			target = cv
			break
		}
	}
	if target.ID == "" {
		t.Fatal("no containment card alice may apply alone")
	}

	t.Run("without a session every page goes to the sign-in form and back", func(t *testing.T) {
		s := f.newSession(t)
		p := s.do("GET", incPath+"?tab=x", nil, nil)
		want := "/console/sign-in?next=" + url.QueryEscape(incPath+"?tab=x")
		if p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Fatalf("%d %q, want 303 to %q", p.status, p.header.Get("Location"), want)
		}
		p = s.do("GET", incPath+"/pane", nil, map[string]string{"HX-Request": "true"})
		if p.status != http.StatusUnauthorized || !strings.HasPrefix(p.header.Get("HX-Redirect"), "/console/sign-in") {
			t.Fatalf("htmx without a session: %d %q", p.status, p.header.Get("HX-Redirect"))
		}
		p = s.do("POST", incPath+"/classify", url.Values{"classification": {"truePositive"}}, nil)
		if p.status != http.StatusSeeOther {
			t.Fatalf("post without a session: %d", p.status)
		}
		if st := f.status("3201"); st.Classification != nil {
			t.Fatalf("classified without a session: %+v", st.Classification)
		}
		if p := s.do("GET", "/", nil, nil); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
			t.Fatalf("/: %d %q", p.status, p.header.Get("Location"))
		}
	})

	t.Run("sign-in refuses bad tokens without saying why and never redirects away", func(t *testing.T) {
		s := f.newSession(t)
		for _, tok := range []string{"", "grt_nope", f.tokens[alice] + "x", strings.Repeat("a", 9000), "a b"} {
			p := s.do("POST", "/console/sign-in", url.Values{"token": {tok}}, nil)
			if p.status != http.StatusUnauthorized || p.header.Get("Set-Cookie") != "" {
				t.Errorf("token %.20q: %d, cookie %q", tok, p.status, p.header.Get("Set-Cookie"))
			}
			if tok != "" && len(tok) < 100 && strings.Contains(p.body, tok) {
				t.Errorf("the page repeats the token %q", tok)
			}
		}
		for _, next := range []string{"//evil.example/", "https://evil.example/console/", "/\\evil.example", "/v1/incidents", "javascript:alert(1)"} {
			p := s.do("POST", "/console/sign-in", url.Values{"token": {f.tokens[alice]}, "next": {next}}, nil)
			if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
				t.Errorf("next %q: %d to %q", next, p.status, p.header.Get("Location"))
			}
		}
		p := s.do("POST", "/console/sign-in", url.Values{"token": {f.tokens[alice]}, "next": {incPath}}, nil)
		if p.header.Get("Location") != incPath {
			t.Errorf("next %q: to %q", incPath, p.header.Get("Location"))
		}
		cookie := p.header.Get("Set-Cookie")
		for _, attr := range []string{"guided_session=", "Path=/console/", "HttpOnly", "SameSite=Lax", "Max-Age="} {
			if !strings.Contains(cookie, attr) {
				t.Errorf("session cookie %q lacks %s", cookie, attr)
			}
		}
		// Another site cannot sign the browser in (login CSRF).
		p = f.newSession(t).do("POST", "/console/sign-in", url.Values{"token": {f.tokens[alice]}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
		if p.status != http.StatusForbidden || p.header.Get("Set-Cookie") != "" {
			t.Errorf("cross-site sign-in: %d %q", p.status, p.header.Get("Set-Cookie"))
		}
	})

	t.Run("pages: security headers, escaping, tenant confinement", func(t *testing.T) {
		s := f.newSession(t)
		s.signIn(alice)
		p := s.do("GET", incPath, nil, nil)
		if p.status != http.StatusOK {
			t.Fatalf("incident page: %d %s", p.status, p.body)
		}
		csp := p.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %s", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || p.header.Get("Cache-Control") != "no-store" || p.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("headers: CSP %q, Cache-Control %q, X-Frame-Options %q", csp, p.header.Get("Cache-Control"), p.header.Get("X-Frame-Options"))
		}
		for _, want := range []string{`id="card-` + target.ID + `"`, "View similar emails", "Classify the incident", "EmailEvents", "Workflow in the Temporal UI"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("incident page lacks %q", want)
			}
		}
		if strings.Contains(p.body, "<script>") || regexp.MustCompile(`<script>[^<]`).MatchString(p.body) {
			t.Error("an inline script on the page")
		}
		// Another tenant's incident, a malformed ID, an unknown incident: the same 404.
		for _, path := range []string{"/console/incidents/fabrikam/3201", "/console/incidents/" + tenant + "/..%2F3201", "/console/incidents/" + tenant + "/9999"} {
			if p := s.do("GET", path, nil, nil); p.status != http.StatusNotFound || !strings.Contains(p.body, "no such incident") {
				t.Errorf("%s: %d", path, p.status)
			}
		}
	})

	t.Run("hostile text is escaped", func(t *testing.T) {
		f.ingest("../incident/testdata/native_phishing.json", `"id": "3201"`, `"id": "3205"`,
			"Phishing email with credential-harvesting link reported by a user", `<script>alert(1)</script><img src=x onerror=alert(2)>`,
			"fa7c1e2d3b4a-5968", "05c1e2d3b4a5-5968", "fa9d8c7b6a5f-4e3d", "05d8c7b6a5f4-4e3d")
		f.cards("3205", alice)
		s := f.newSession(t)
		s.signIn(alice)
		for _, path := range []string{"/console/", "/console/incidents/" + tenant + "/3205"} {
			p := s.do("GET", path, nil, nil)
			if p.status != http.StatusOK {
				t.Fatalf("%s: %d", path, p.status)
			}
			if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") {
				t.Errorf("%s renders the hostile title unescaped", path)
			}
			if !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Errorf("%s lacks the escaped title", path)
			}
		}
	})

	t.Run("queue filters", func(t *testing.T) {
		s := f.newSession(t)
		s.signIn(rita)
		p := s.do("GET", "/console/?severity=medium", nil, nil)
		if p.status != http.StatusOK || !strings.Contains(p.body, `data-incident="3201"`) {
			t.Fatalf("medium: %d", p.status)
		}
		if p := s.do("GET", "/console/?severity=high", nil, nil); strings.Contains(p.body, `data-incident="3201"`) {
			t.Error("a medium incident listed under high")
		}
		if p := s.do("GET", "/console/?severity=catastrophic", nil, nil); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "not a known value") {
			t.Errorf("unknown severity: %d", p.status)
		}
	})

	t.Run("changes need the form token and this origin, and leave nothing behind when refused", func(t *testing.T) {
		s := f.newSession(t)
		s.signIn(alice)
		before := f.status("3201")
		decide := incPath + "/cards/" + target.ID + "/decide"
		form := url.Values{"decision": {"approve"}}
		for name, header := range map[string]map[string]string{
			"no token":       {"HX-Request": "true"},
			"wrong token":    {"HX-Request": "true", "X-CSRF-Token": "x" + s.csrf[1:]},
			"cross-site":     {"HX-Request": "true", "X-CSRF-Token": s.csrf, "Sec-Fetch-Site": "cross-site"},
			"foreign origin": {"HX-Request": "true", "X-CSRF-Token": s.csrf, "Origin": "https://evil.example"},
		} {
			if p := s.do("POST", decide, form, header); p.status != http.StatusForbidden {
				t.Errorf("%s: %d", name, p.status)
			}
		}
		// Another session's token does not fit this session.
		other := f.newSession(t)
		other.signIn(bob)
		if p := s.do("POST", decide, form, map[string]string{"HX-Request": "true", "X-CSRF-Token": other.csrf}); p.status != http.StatusForbidden {
			t.Errorf("bob's form token in alice's session: %d", p.status)
		}
		if after := f.status("3201"); after.PendingApprovals != before.PendingApprovals || after.CardsByStatus[card.StatusApplied] != before.CardsByStatus[card.StatusApplied] {
			t.Errorf("a refused request changed the incident: %+v -> %+v", before.CardsByStatus, after.CardsByStatus)
		}
	})

	t.Run("a read-only analyst's decision is refused by the workflow", func(t *testing.T) {
		s := f.newSession(t)
		s.signIn(rita)
		p := s.htmx(incPath+"/cards/"+target.ID+"/decide", url.Values{"decision": {"approve"}})
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "lacks permission") || !strings.Contains(p.body, `id="pane"`) {
			t.Fatalf("rita approves: %d %s", p.status, p.body)
		}
		p = s.do("GET", incPath+"/pane", nil, map[string]string{"HX-Request": "true"})
		if !regexp.MustCompile(`value="approve"[^>]*disabled`).MatchString(p.body) {
			t.Error("rita's pane has an enabled Apply button")
		}
	})

	t.Run("an analyst applies, classifies and gives feedback through htmx and plain forms", func(t *testing.T) {
		s := f.newSession(t)
		s.signIn(alice)
		p := s.htmx(incPath+"/cards/"+target.ID+"/decide", url.Values{"decision": {"approve"}})
		if p.status != http.StatusOK || !strings.Contains(p.body, "Approved.") || !strings.Contains(p.body, `hx-swap-oob="true"`) {
			t.Fatalf("approve: %d %s", p.status, p.body)
		}
		// The same approval again: refused, the action is applied once.
		if p := s.htmx(incPath+"/cards/"+target.ID+"/decide", url.Values{"decision": {"approve"}}); p.status != http.StatusConflict {
			t.Errorf("second approval: %d", p.status)
		}
		// A plain form post (no JavaScript) redirects to the incident.
		p = s.do("POST", incPath+"/classify", url.Values{"csrf": {s.csrf}, "classification": {"truePositive"}, "determination": {"phishing"}, "comment": {"seen before"}}, nil)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != incPath {
			t.Fatalf("classify: %d %q %s", p.status, p.header.Get("Location"), p.body)
		}
		st := f.status("3201")
		if st.Classification == nil || st.Classification.Principal != alice || st.Classification.Comment != "seen before" {
			t.Fatalf("classification %+v", st.Classification)
		}
		// A determination of another classification is refused by the workflow, with its reason.
		p = s.htmx(incPath+"/classify", url.Values{"classification": {"falsePositive"}, "determination": {"phishing"}})
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "phishing") {
			t.Errorf("mismatched determination: %d %s", p.status, p.body)
		}
		// Feedback, sent twice with the same key (a resent form): stored once.
		form := url.Values{"helpful": {"false"}, "comment": {"too broad"}, "feedbackId": {"fb-console-test-1"}}
		for i := 0; i < 2; i++ {
			if p := s.htmx(incPath+"/cards/"+target.ID+"/feedback", form); p.status != http.StatusOK || !strings.Contains(p.body, "You marked it not helpful") {
				t.Fatalf("feedback %d: %d %s", i, p.status, p.body)
			}
		}
		fb, err := f.env.Store.ListFeedback(context.Background(), tenant, "3201")
		if err != nil {
			t.Fatal(err)
		}
		if n := countFeedback(fb, target.ID, alice); n != 1 {
			t.Errorf("%d feedback rows, want 1", n)
		}
		if p := s.htmx(incPath+"/cards/"+target.ID+"/feedback", url.Values{"helpful": {"maybe"}}); p.status != http.StatusUnprocessableEntity {
			t.Errorf("helpful=maybe: %d", p.status)
		}
	})

	t.Run("after close: the report, and feedback still taken", func(t *testing.T) {
		f.closeAsAnalysts("3201", string(incident.ClassificationTruePositive), string(incident.DeterminationPhishing))
		s := f.newSession(t)
		s.signIn(alice)
		p := s.do("GET", incPath, nil, nil)
		if p.status != http.StatusOK || !strings.Contains(p.body, `id="report-link"`) || strings.Contains(p.body, `form class="decide"`) {
			t.Fatalf("closed incident page: %d", p.status)
		}
		if p := s.do("GET", incPath+"/report", nil, nil); p.status != http.StatusOK || !strings.Contains(p.body, "3201") {
			t.Errorf("report: %d", p.status)
		}
		p = s.htmx(incPath+"/cards/"+target.ID+"/feedback", url.Values{"helpful": {"true"}, "feedbackId": {"fb-console-after-close"}})
		if p.status != http.StatusOK || !strings.Contains(p.body, "feedback is recorded") {
			t.Fatalf("feedback after close: %d %s", p.status, p.body)
		}
		// Through the JSON API too.
		var out struct {
			Accepted bool                     `json:"accepted"`
			Result   workflows.FeedbackOutput `json:"result"`
		}
		body := map[string]any{"helpful": true, "feedbackId": "fb-api-after-close"}
		if st := f.apiCall("POST", "/v1/incidents/"+tenant+"/3201/cards/"+target.ID+"/feedback", bob, body, &out); st != http.StatusOK || !out.Accepted || !out.Result.Created {
			t.Fatalf("API feedback after close: %d %+v", st, out)
		}
		if st := f.apiCall("POST", "/v1/incidents/"+tenant+"/3201/cards/nope/feedback", bob, body, &out); st != http.StatusNotFound {
			t.Errorf("feedback on no card after close: %d", st)
		}
		fb, err := f.env.Store.ListFeedback(context.Background(), tenant, "3201")
		if err != nil {
			t.Fatal(err)
		}
		if countFeedback(fb, target.ID, bob) != 1 || countFeedback(fb, target.ID, alice) != 2 {
			b, _ := json.Marshal(fb)
			t.Errorf("feedback rows after close: %s", b)
		}
	})

	t.Run("static assets: embedded, cached by content hash", func(t *testing.T) {
		s := f.newSession(t)
		p := s.do("GET", "/console/sign-in", nil, nil)
		m := regexp.MustCompile(`src="(/console/static/vendor/htmx-2\.0\.11\.min\.js\?v=[0-9a-f]+)"`).FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no htmx script on the sign-in page: %s", p.body)
		}
		a := s.do("GET", m[1], nil, nil)
		if a.status != http.StatusOK || !strings.Contains(a.header.Get("Cache-Control"), "immutable") || !strings.Contains(a.body, "htmx") {
			t.Errorf("htmx: %d %q", a.status, a.header.Get("Cache-Control"))
		}
		if a := s.do("GET", "/console/static/console.css?v=old", nil, nil); a.status != http.StatusOK || strings.Contains(a.header.Get("Cache-Control"), "immutable") {
			t.Errorf("stale asset URL: %d %q", a.status, a.header.Get("Cache-Control"))
		}
		for _, path := range []string{"/console/static/nope.js", "/console/static/", "/console/static/vendor/"} {
			if a := s.do("GET", path, nil, nil); a.status != http.StatusNotFound {
				t.Errorf("%s: %d", path, a.status)
			}
		}
		// A path that climbs out is cleaned by the router first (a redirect), and never reaches a file.
		if a := s.do("GET", "/console/static/../console.go", nil, nil); a.status == http.StatusOK || strings.Contains(a.body, "package console") {
			t.Errorf("/console/static/../console.go: %d", a.status)
		}
	})
}

func countFeedback(fb []store.Feedback, cardID, principal string) int {
	n := 0
	for _, x := range fb {
		if x.CardID == cardID && x.Principal == principal {
			n++
		}
	}
	return n
}
