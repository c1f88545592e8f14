package api

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultRateLimitKeys bounds how many callers a RateLimiter tracks at once.
const DefaultRateLimitKeys = 10_000

// RateLimiter limits each caller to a token bucket: rps requests a second on average, burst at once.
// The caller is the authenticated principal (tenant and ID) when the request has one, else its remote
// address (an IPv6 address by its /64, which one host controls whole). Behind a reverse proxy every
// unauthenticated request has the proxy's address: authenticated routes are limited per principal all
// the same.
//
// Memory is bounded: at most maxKeys buckets are kept, the least recently used dropped first, and a
// bucket idle long enough to be full again is dropped as it is no different from a new one.
type RateLimiter struct {
	limit   rate.Limit
	burst   int
	idle    time.Duration // a bucket untouched this long is full again
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     *list.List               // most recently used first
}

type bucket struct {
	key      string
	limiter  *rate.Limiter
	lastSeen time.Time
}

// NewRateLimiter limits each caller to rps requests a second with bursts of burst. rps <= 0 disables
// limiting; burst < 1 means 1. Use its Middleware inside Authenticate so that callers are principals.
func NewRateLimiter(rps float64, burst int) *RateLimiter {
	if burst < 1 {
		burst = 1
	}
	l := &RateLimiter{
		limit:   rate.Limit(rps),
		burst:   burst,
		maxKeys: DefaultRateLimitKeys,
		now:     time.Now,
		buckets: map[string]*list.Element{},
		lru:     list.New(),
	}
	if rps <= 0 {
		l.limit = rate.Inf
	} else {
		l.idle = time.Duration(float64(burst) / rps * float64(time.Second))
		if l.idle < time.Second {
			l.idle = time.Second
		}
	}
	return l
}

// Middleware refuses a request over its caller's limit with 429 and Retry-After.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notePattern(r)
		if wait, ok := l.allow(rateKey(r)); !ok {
			WriteProblem(w, r, TooManyRequests(wait))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allow takes a token from key's bucket; when there is none it says how long until there is one.
func (l *RateLimiter) allow(key string) (time.Duration, bool) {
	if l.limit == rate.Inf {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	b := l.bucket(key, now)
	res := b.limiter.ReserveN(now, 1)
	l.mu.Unlock()
	if !res.OK() {
		return time.Second, false // cannot happen with burst >= 1
	}
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now) // a refused request takes no token
		return wait, false
	}
	return 0, true
}

// bucket finds or makes key's bucket, marks it used and evicts what must go. l.mu is held.
func (l *RateLimiter) bucket(key string, now time.Time) *bucket {
	// Drop buckets idle long enough to be full: the least recently used are at the back.
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		old := e.Value.(*bucket)
		if now.Sub(old.lastSeen) < l.idle {
			break
		}
		l.remove(e)
	}
	if e, ok := l.buckets[key]; ok {
		b := e.Value.(*bucket)
		b.lastSeen = now
		l.lru.MoveToFront(e)
		return b
	}
	for l.lru.Len() >= l.maxKeys {
		l.remove(l.lru.Back())
	}
	b := &bucket{key: key, limiter: rate.NewLimiter(l.limit, l.burst), lastSeen: now}
	l.buckets[key] = l.lru.PushFront(b)
	return b
}

func (l *RateLimiter) remove(e *list.Element) {
	delete(l.buckets, e.Value.(*bucket).key)
	l.lru.Remove(e)
}

// size is how many buckets are kept (tests).
func (l *RateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// rateKey names the caller of r: its principal, else its remote address.
func rateKey(r *http.Request) string {
	if p, ok := PrincipalFrom(r.Context()); ok {
		return "principal\x00" + p.TenantID + "\x00" + p.ID
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "addr\x00" + host
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		if prefix, err := addr.Prefix(64); err == nil {
			return "addr\x00" + prefix.String()
		}
	}
	return "addr\x00" + addr.String()
}
