package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/internal/pgtest"
)

// TestMain stops the throwaway PostgreSQL of the delivery store's tests.
func TestMain(m *testing.M) { pgtest.Main(m) }

// memDeliveries is a DeliveryStore in memory.
type memDeliveries struct {
	mu   sync.Mutex
	seen map[[2]string]time.Time
	err  error
}

func newMemDeliveries() *memDeliveries { return &memDeliveries{seen: map[[2]string]time.Time{}} }

func (m *memDeliveries) Remember(_ context.Context, source, deliveryID string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false, m.err
	}
	k := [2]string{source, deliveryID}
	if _, ok := m.seen[k]; ok {
		return false, nil
	}
	m.seen[k] = at
	return true, nil
}

func (m *memDeliveries) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}

var (
	hookNow    = time.Unix(1_750_000_000, 0)
	hookSecret = []byte("0123456789abcdef-servicenow")
	hookSource = WebhookSource{ID: "servicenow", Secret: hookSecret, TenantID: "contoso", Principal: "svc-servicenow"}
	hookBody   = []byte(`{"incidentTenant":"contoso","incidentId":"42","kind":"decide","payload":{"cardIds":["c1"],"decision":"approve"}}`)
)

// hookRequest is a webhook request for source in the URL ("" for none), signed with secret at at.
func hookRequest(source string, secret []byte, at time.Time, delivery string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/webhooks/"+url.PathEscape(source)+"/decisions", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if source != "" {
		r.SetPathValue("source", source)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	r.Header.Set(connector.HeaderTimestamp, ts)
	r.Header.Set(connector.HeaderSignature, connector.Sign(secret, ts, body))
	r.Header.Set(HeaderWebhookDelivery, delivery)
	return r
}

func TestVerifyWebhook(t *testing.T) {
	sources := map[string]WebhookSource{hookSource.ID: hookSource, "short": {ID: "short", Secret: []byte("short"), TenantID: "t", Principal: "p"}}
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int // 0: verified
	}{
		{"signed", func() *http.Request { return hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody) }, 0},
		{"source in the header", func() *http.Request {
			r := hookRequest("", hookSecret, hookNow, "d-1", hookBody)
			r.Header.Set(HeaderWebhookSource, "servicenow")
			return r
		}, 0},
		{"same source in URL and header", func() *http.Request {
			r := hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)
			r.Header.Set(HeaderWebhookSource, "servicenow")
			return r
		}, 0},
		{"4 minutes old", func() *http.Request {
			return hookRequest("servicenow", hookSecret, hookNow.Add(-4*time.Minute), "d-1", hookBody)
		}, 0},
		{"4 minutes ahead", func() *http.Request {
			return hookRequest("servicenow", hookSecret, hookNow.Add(4*time.Minute), "d-1", hookBody)
		}, 0},
		{"empty body signed", func() *http.Request { return hookRequest("servicenow", hookSecret, hookNow, "d-1", nil) }, 0},

		{"wrong secret", func() *http.Request {
			return hookRequest("servicenow", []byte("0123456789abcdef-other"), hookNow, "d-1", hookBody)
		}, 401},
		{"unknown source", func() *http.Request { return hookRequest("jira", hookSecret, hookNow, "d-1", hookBody) }, 401},
		{"source with a short secret", func() *http.Request { return hookRequest("short", []byte("short"), hookNow, "d-1", hookBody) }, 401},
		{"6 minutes old", func() *http.Request {
			return hookRequest("servicenow", hookSecret, hookNow.Add(-6*time.Minute), "d-1", hookBody)
		}, 401},
		{"6 minutes ahead", func() *http.Request {
			return hookRequest("servicenow", hookSecret, hookNow.Add(6*time.Minute), "d-1", hookBody)
		}, 401},
		{"tampered body", func() *http.Request {
			r := hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)
			r.Body = httptestBody(bytes.Replace(hookBody, []byte("approve"), []byte("reject!"), 1))
			return r
		}, 401},
		{"timestamp changed after signing", func() *http.Request {
			r := hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)
			r.Header.Set(connector.HeaderTimestamp, strconv.FormatInt(hookNow.Unix()+1, 10))
			return r
		}, 401},
		{"signature upper-case hex", func() *http.Request {
			r := hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)
			r.Header.Set(connector.HeaderSignature, strings.ToUpper(r.Header.Get(connector.HeaderSignature)))
			return r
		}, 400},

		{"no source", func() *http.Request { return hookRequest("", hookSecret, hookNow, "d-1", hookBody) }, 400},
		{"URL and header disagree", func() *http.Request {
			r := hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)
			r.Header.Set(HeaderWebhookSource, "jira")
			return r
		}, 400},
		{"malformed source", func() *http.Request { return hookRequest("service now", hookSecret, hookNow, "d-1", hookBody) }, 400},
		{"no timestamp", func() *http.Request {
			r := hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)
			r.Header.Del(connector.HeaderTimestamp)
			return r
		}, 400},
		{"timestamp not digits", func() *http.Request {
			r := hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)
			r.Header.Set(connector.HeaderTimestamp, "-1750000000")
			return r
		}, 400},
		{"two timestamps", func() *http.Request {
			r := hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)
			r.Header.Add(connector.HeaderTimestamp, "1")
			return r
		}, 400},
		{"no signature", func() *http.Request {
			r := hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)
			r.Header.Del(connector.HeaderSignature)
			return r
		}, 400},
		{"signature of another scheme", func() *http.Request {
			r := hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)
			r.Header.Set(connector.HeaderSignature, "sha1="+strings.Repeat("0", 40))
			return r
		}, 400},
		{"no delivery", func() *http.Request { return hookRequest("servicenow", hookSecret, hookNow, "", hookBody) }, 400},
		{"malformed delivery", func() *http.Request { return hookRequest("servicenow", hookSecret, hookNow, "d/1", hookBody) }, 400},
		{"delivery too long", func() *http.Request {
			return hookRequest("servicenow", hookSecret, hookNow, strings.Repeat("d", 129), hookBody)
		}, 400},
		{"body over the limit", func() *http.Request {
			return hookRequest("servicenow", hookSecret, hookNow, "d-1", bytes.Repeat([]byte("x"), 1025))
		}, 413},
	}
	var refused string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deliveries := newMemDeliveries()
			src, body, p := VerifyWebhook(tt.req(), sources, deliveries, hookNow, 1024)
			if tt.wantStatus == 0 {
				if p != nil {
					t.Fatalf("refused: %v", p)
				}
				if src.ID != "servicenow" || src.Principal != "svc-servicenow" {
					t.Fatalf("source = %+v", src)
				}
				if want := tt.req(); !bytes.Equal(body, readAll(t, want)) {
					t.Fatalf("body = %q", body)
				}
				if deliveries.count() != 2 {
					t.Fatalf("%d deliveries recorded, want the delivery ID and the signature", deliveries.count())
				}
				return
			}
			if p == nil {
				t.Fatalf("verified, want %d", tt.wantStatus)
			}
			if p.Status != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", p.Status, p.Detail, tt.wantStatus)
			}
			if deliveries.count() != 0 {
				t.Fatal("a refused request recorded its delivery")
			}
			if body != nil || src.ID != "" {
				t.Fatal("a refused request returned its source or body")
			}
			if p.Status == 401 {
				// One answer for every failure: no oracle.
				if refused == "" {
					refused = p.Detail
				} else if p.Detail != refused {
					t.Fatalf("401 details differ: %q vs %q", p.Detail, refused)
				}
				if p.header.Get("WWW-Authenticate") != "" {
					t.Error("a webhook 401 carries a Bearer challenge")
				}
			}
		})
	}
}

func TestVerifyWebhookReplays(t *testing.T) {
	sources := map[string]WebhookSource{hookSource.ID: hookSource}
	deliveries := newMemDeliveries()
	verify := func(r *http.Request) *Problem {
		_, _, p := VerifyWebhook(r, sources, deliveries, hookNow, 1024)
		return p
	}
	if p := verify(hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)); p != nil {
		t.Fatalf("first delivery refused: %v", p)
	}
	// The same request again.
	if p := verify(hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody)); p == nil || p.Status != 409 {
		t.Fatalf("replay: %v, want 409", p)
	}
	// The same delivery ID, signed again later (a retry of a delivery that was taken).
	if p := verify(hookRequest("servicenow", hookSecret, hookNow.Add(time.Second), "d-1", hookBody)); p == nil || p.Status != 409 {
		t.Fatalf("same delivery re-signed: %v, want 409", p)
	}
	// The captured request under a new delivery ID: the delivery header is not signed.
	if p := verify(hookRequest("servicenow", hookSecret, hookNow, "d-2-forged", hookBody)); p == nil || p.Status != 409 {
		t.Fatalf("captured request, new delivery ID: %v, want 409", p)
	}
	// A new delivery.
	if p := verify(hookRequest("servicenow", hookSecret, hookNow.Add(2*time.Second), "d-3", hookBody)); p != nil {
		t.Fatalf("new delivery refused: %v", p)
	}
	// Delivery IDs are per source.
	other := WebhookSource{ID: "jira", Secret: []byte("fedcba9876543210-jira"), TenantID: "contoso", Principal: "svc-jira"}
	sources[other.ID] = other
	if p := verify(hookRequest("jira", other.Secret, hookNow, "d-1", hookBody)); p != nil {
		t.Fatalf("another source's d-1 refused: %v", p)
	}
}

func TestVerifyWebhookStoreFailure(t *testing.T) {
	deliveries := newMemDeliveries()
	deliveries.err = errors.New("connection refused to 10.0.0.5:5432 password=hunter2")
	_, _, p := VerifyWebhook(hookRequest("servicenow", hookSecret, hookNow, "d-1", hookBody),
		map[string]WebhookSource{hookSource.ID: hookSource}, deliveries, hookNow, 1024)
	if p == nil || p.Status != 503 || strings.Contains(p.Detail, "hunter2") {
		t.Fatalf("got %v, want 503 without the error", p)
	}
}

func TestWebhookSourceValidate(t *testing.T) {
	if err := hookSource.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]WebhookSource{
		"bad ID":       {ID: "a b", Secret: hookSecret, TenantID: "t", Principal: "p"},
		"short secret": {ID: "a", Secret: []byte("123"), TenantID: "t", Principal: "p"},
		"no tenant":    {ID: "a", Secret: hookSecret, Principal: "p"},
		"no principal": {ID: "a", Secret: hookSecret, TenantID: "t"},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if p := hookSource.AsPrincipal(); p.TenantID != "contoso" || p.ID != "svc-servicenow" || p.Via != "webhook:servicenow" {
		t.Errorf("AsPrincipal = %+v", p)
	}
}

func TestPostgresDeliveries(t *testing.T) {
	db := pgtest.MigratedDB(t)
	ctx := context.Background()
	d := NewPostgresDeliveries(db)
	now := time.Now().UTC().Truncate(time.Microsecond)

	remember := func(source, id string, at time.Time) bool {
		t.Helper()
		fresh, err := d.Remember(ctx, source, id, at)
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !remember("servicenow", "d-1", now) {
		t.Fatal("first delivery not fresh")
	}
	if remember("servicenow", "d-1", now.Add(time.Second)) {
		t.Fatal("replayed delivery fresh")
	}
	if !remember("jira", "d-1", now) {
		t.Fatal("another source's delivery not fresh")
	}

	// Deliveries older than the retention go at the next sweep; recent ones stay.
	if !remember("servicenow", "old", now.Add(-25*time.Hour)) {
		t.Fatal("old delivery not fresh")
	}
	d.lastSweep = time.Time{}
	remember("servicenow", "d-2", now)
	var n int
	if err := db.GetContext(ctx, &n, `SELECT count(*) FROM webhook_deliveries WHERE delivery_id = 'old'`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("the sweep kept a delivery older than the retention")
	}
	if remember("servicenow", "d-1", now) {
		t.Fatal("the sweep dropped a recent delivery")
	}
	pruned, err := d.Prune(ctx, now.Add(time.Hour))
	if err != nil || pruned != 3 {
		t.Fatalf("Prune = %d, %v; want 3", pruned, err)
	}

	// Through VerifyWebhook: a replay is refused by the real store too.
	sources := map[string]WebhookSource{hookSource.ID: hookSource}
	at := time.Now()
	if _, _, p := VerifyWebhook(hookRequest("servicenow", hookSecret, at, "v-1", hookBody), sources, d, at, 1024); p != nil {
		t.Fatalf("refused: %v", p)
	}
	if _, _, p := VerifyWebhook(hookRequest("servicenow", hookSecret, at, "v-1", hookBody), sources, d, at, 1024); p == nil || p.Status != 409 {
		t.Fatalf("replay: %v, want 409", p)
	}

	// A store that cannot be reached is an error, not a fresh delivery.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if fresh, err := d.Remember(cancelled, "servicenow", "d-9", now); err == nil || fresh {
		t.Fatalf("Remember on a cancelled context = %v, %v", fresh, err)
	}
}

// FuzzVerifyWebhook: whatever the headers and the body, nothing verifies without the secret (made fresh
// for each run, so no corpus entry can hold a valid signature), and nothing panics.
func FuzzVerifyWebhook(f *testing.F) {
	ts := strconv.FormatInt(hookNow.Unix(), 10)
	f.Add("servicenow", ts, connector.Sign([]byte("0123456789abcdef-guess"), ts, hookBody), "d-1", hookBody)
	f.Add("servicenow", ts, "sha256="+strings.Repeat("0", 64), "d-1", []byte(`{}`))
	f.Add("", "", "", "", []byte(nil))
	f.Add("jira", "999999999999", "sha256=", "d:1.2_3-4", []byte("x"))
	f.Add("servicenow", "0"+ts, connector.Sign(nil, ts, hookBody), strings.Repeat("a", 128), hookBody)

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		f.Fatal(err)
	}
	sources := map[string]WebhookSource{"servicenow": {ID: "servicenow", Secret: secret, TenantID: "contoso", Principal: "svc"}}
	f.Fuzz(func(t *testing.T, source, timestamp, signature, delivery string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/webhooks/x/decisions", bytes.NewReader(body))
		r.SetPathValue("source", source)
		r.Header[connector.HeaderTimestamp] = []string{timestamp}
		r.Header[connector.HeaderSignature] = []string{signature}
		r.Header[HeaderWebhookDelivery] = []string{delivery}
		deliveries := newMemDeliveries()
		src, out, p := VerifyWebhook(r, sources, deliveries, hookNow, 4096)
		if p == nil {
			t.Fatalf("verified without the secret: source %q timestamp %q signature %q", source, timestamp, signature)
		}
		switch p.Status {
		case 400, 401, 413:
		default:
			t.Fatalf("status %d (%s)", p.Status, p.Detail)
		}
		if src.ID != "" || out != nil || deliveries.count() != 0 {
			t.Fatal("a refused request returned its source or body, or recorded its delivery")
		}
	})
}

func httptestBody(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func readAll(t *testing.T, r *http.Request) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		t.Fatal(err)
	}
	if buf.Len() == 0 {
		return nil
	}
	return buf.Bytes()
}
