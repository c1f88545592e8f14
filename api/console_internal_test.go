package api

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// safeNext is what a sign-in may redirect to: a path of the console on this site.
func safeNext(t *testing.T, in, out string) {
	t.Helper()
	u, err := url.Parse(out)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || !strings.HasPrefix(out, "/console/") ||
		strings.HasPrefix(out, "//") || strings.ContainsAny(out, "\\\r\n\t") {
		t.Fatalf("localPath(%q) = %q: not a local console path", in, out)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "/console/",
		"/console/incidents/t/1?x=1":      "/console/incidents/t/1?x=1",
		"//evil.example/console/":         "/console/",
		"/\\evil.example":                 "/console/",
		"https://evil.example/console/":   "/console/",
		"/v1/incidents":                   "/console/",
		"javascript:alert(1)":             "/console/",
		"/console/\r\nSet-Cookie: x=1":    "/console/",
		"/console/%2F%2Fevil.example":     "/console/%2F%2Fevil.example",
		"/console/../v1/incidents":        "/console/../v1/incidents",
		"/console/\\..\\..\\evil.example": "/console/",
	} {
		got := localPath(in)
		if got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
		safeNext(t, in, got)
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"", "/console/", "//evil", "/\\evil", "https://x/console/", "/console/\x00", "/console/%0d%0a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		safeNext(t, in, localPath(in))
	})
}

func TestCheckSameOrigin(t *testing.T) {
	for _, c := range []struct {
		site, origin string
		ok           bool
	}{
		{"", "", true},
		{"same-origin", "", true},
		{"none", "", true},
		{"same-site", "", false},
		{"cross-site", "", false},
		{"", "http://guided.example", true},
		{"", "http://evil.example", false},
		{"", "null", false},
		{"same-origin", "null", true}, // the browser vouches; Origin is null under a strict referrer policy
	} {
		r := httptest.NewRequest("POST", "http://guided.example/console/sign-in", nil)
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := checkSameOrigin(r) == nil; got != c.ok {
			t.Errorf("Sec-Fetch-Site %q, Origin %q: allowed %v, want %v", c.site, c.origin, got, c.ok)
		}
	}
}
