package api

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/guided-response/guided/auth"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func limitedHandler(l *RateLimiter) http.Handler {
	return l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
}

func requestAs(p *auth.Principal, remote string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/incidents", nil)
	r.RemoteAddr = remote
	if p != nil {
		r = r.WithContext(WithPrincipal(r.Context(), *p))
	}
	return r
}

func TestRateLimiterPerPrincipal(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := NewRateLimiter(2, 3) // 2/s, bursts of 3
	l.now = clock.now
	h := limitedHandler(l)
	alice := &auth.Principal{TenantID: "contoso", ID: "alice"}
	bob := &auth.Principal{TenantID: "contoso", ID: "bob"}
	aliceElsewhere := &auth.Principal{TenantID: "fabrikam", ID: "alice"}

	do := func(p *auth.Principal, remote string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, requestAs(p, remote))
		return rec
	}
	for i := range 3 {
		if rec := do(alice, "10.0.0.1:1000"); rec.Code != 204 {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
	}
	rec := do(alice, "10.0.0.2:1000") // another address: the principal is the key
	if rec.Code != 429 {
		t.Fatalf("4th request: status %d, want 429", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1 (a token every 0.5 s, rounded up)", got)
	}
	decodeProblemBody(t, rec.Result())
	if rec := do(bob, "10.0.0.1:1000"); rec.Code != 204 {
		t.Fatalf("bob: status %d", rec.Code)
	}
	if rec := do(aliceElsewhere, "10.0.0.1:1000"); rec.Code != 204 {
		t.Fatalf("alice of another tenant: status %d", rec.Code)
	}
	// Refused requests take no token: after half a second one more passes.
	for range 5 {
		do(alice, "10.0.0.1:1000")
	}
	clock.advance(500 * time.Millisecond)
	if rec := do(alice, "10.0.0.1:1000"); rec.Code != 204 {
		t.Fatalf("after refill: status %d", rec.Code)
	}
	if rec := do(alice, "10.0.0.1:1000"); rec.Code != 429 {
		t.Fatalf("after one refill, one request: status %d", rec.Code)
	}
}

func TestRateLimiterByAddress(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := NewRateLimiter(1, 1)
	l.now = clock.now
	h := limitedHandler(l)
	do := func(remote string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, requestAs(nil, remote))
		return rec.Code
	}
	if do("192.0.2.1:5000") != 204 || do("192.0.2.1:5001") != 429 {
		t.Fatal("one IPv4 address, two ports: want one bucket")
	}
	if do("192.0.2.2:5000") != 204 {
		t.Fatal("another IPv4 address: want its own bucket")
	}
	if do("[2001:db8:1:2::1]:443") != 204 || do("[2001:db8:1:2:ffff::9]:443") != 429 {
		t.Fatal("one IPv6 /64: want one bucket")
	}
	if do("[2001:db8:1:3::1]:443") != 204 {
		t.Fatal("another IPv6 /64: want its own bucket")
	}
	if do("[::ffff:198.51.100.7]:1") != 204 || do("198.51.100.7:2") != 429 {
		t.Fatal("an IPv4-mapped address is the IPv4 address")
	}
}

func TestRateLimiterBoundedMemory(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := NewRateLimiter(10, 5) // a bucket refills whole in 0.5 s: idle after 1 s (the floor)
	l.now = clock.now
	l.maxKeys = 100
	h := limitedHandler(l)
	for i := range 1000 {
		h.ServeHTTP(httptest.NewRecorder(), requestAs(&auth.Principal{TenantID: "t", ID: strconv.Itoa(i)}, "10.0.0.1:1"))
	}
	if n := l.size(); n != 100 {
		t.Fatalf("%d buckets, want at most 100", n)
	}
	// The most recent callers keep their buckets (least recently used go first).
	for range 5 {
		h.ServeHTTP(httptest.NewRecorder(), requestAs(&auth.Principal{TenantID: "t", ID: "999"}, "10.0.0.1:1"))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, requestAs(&auth.Principal{TenantID: "t", ID: "999"}, "10.0.0.1:1"))
	if rec.Code != 429 {
		t.Fatalf("a recent caller lost its bucket: status %d", rec.Code)
	}
	// Idle buckets go once full again.
	clock.advance(2 * time.Second)
	h.ServeHTTP(httptest.NewRecorder(), requestAs(&auth.Principal{TenantID: "t", ID: "new"}, "10.0.0.1:1"))
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets after everyone idled, want 1", n)
	}
}

func TestRateLimiterDisabled(t *testing.T) {
	h := limitedHandler(NewRateLimiter(0, 0))
	for range 100 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, requestAs(nil, "10.0.0.1:1"))
		if rec.Code != 204 {
			t.Fatalf("status %d", rec.Code)
		}
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	h := limitedHandler(NewRateLimiter(1000, 1000))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				p := &auth.Principal{TenantID: "t", ID: strconv.Itoa(g*1000 + i%10)}
				h.ServeHTTP(httptest.NewRecorder(), requestAs(p, "10.0.0.1:1"))
			}
		}()
	}
	wg.Wait()
}
