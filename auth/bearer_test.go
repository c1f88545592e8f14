package auth

import (
	"strings"
	"testing"
)

const testToken = "grt_0123456789abcdef01234567_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

func TestParseBearer(t *testing.T) {
	long := strings.Repeat("a", maxBearerLen)
	tests := []struct {
		header string
		want   string // "" when refused
	}{
		{"Bearer " + testToken, testToken},
		{"bearer " + testToken, testToken},
		{"BEARER   " + testToken, testToken},
		{"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"},
		{"Bearer abc+/~-._==", "abc+/~-._=="},
		{"Bearer " + long, long},
		{"Bearer " + long + "a", ""},
		{"", ""},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Bearer ==", ""},
		{"Bearer a=b", ""},
		{"Bearer a b", ""},
		{"Bearer a ", ""},
		{"Bearer\t" + testToken, ""},
		{" Bearer " + testToken, ""},
		{"Basic dXNlcjpwYXNz", ""},
		{"Bearertoken", ""},
		{testToken, ""},
		{"Bearer " + testToken + "\n", ""},
		{"Bearer tökén", ""},
	}
	for _, tt := range tests {
		got, err := parseBearer(tt.header)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("parseBearer(%.40q) = %.40q, %v; want %.40q", tt.header, got, err, tt.want)
		}
	}
}

func TestParseAPIToken(t *testing.T) {
	id, secret, ok := parseAPIToken(testToken)
	if !ok || id != "0123456789abcdef01234567" || len(secret) != 32 || secret[0] != 0 || secret[31] != 31 {
		t.Fatalf("parseAPIToken(%s) = %q, %x, %v", testToken, id, secret, ok)
	}
	for _, bad := range []string{
		"",
		testToken[:len(testToken)-1],
		testToken + "A",
		strings.Replace(testToken, "grt_", "grx_", 1),
		strings.Replace(testToken, "0123", "0G23", 1),
		strings.Replace(testToken, "abcdef", "ABCDEF", 1),
		strings.Replace(testToken, "567_", "567-", 1),
		testToken[:len(testToken)-1] + "f", // non-zero padding bits: not the canonical encoding
		testToken[:len(testToken)-1] + "=",
	} {
		if _, _, ok := parseAPIToken(bad); ok {
			t.Errorf("parseAPIToken(%q) accepted", bad)
		}
	}
}

// FuzzParseBearer checks the parsers of the Authorization header, whatever a caller sends: no panic; an
// accepted credential is the header's tail, within the syntax and size, and parses the same again; an
// accepted API token is in its one canonical form.
func FuzzParseBearer(f *testing.F) {
	for _, seed := range []string{
		"Bearer " + testToken,
		"bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
		"Basic dXNlcjpwYXNz",
		"Bearer  a==",
		"Bearer grt__",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, err := parseBearer(header)
		if err != nil {
			if token != "" {
				t.Fatalf("refused %q but returned %q", header, token)
			}
			return
		}
		if token == "" || len(token) > maxBearerLen || !isB64Token(token) || !strings.HasSuffix(header, token) {
			t.Fatalf("parseBearer(%q) = %q", header, token)
		}
		if again, err := parseBearer("Bearer " + token); err != nil || again != token {
			t.Fatalf("%q parses as %q, %v the second time", token, again, err)
		}
		id, secret, ok := parseAPIToken(token)
		if !ok {
			return
		}
		if len(id) != tokenIDLen || len(secret) != secretBytes {
			t.Fatalf("parseAPIToken(%q) = %q, %x", token, id, secret)
		}
		if canonical := tokenPrefix + id + "_" + secretEncoding.EncodeToString(secret); canonical != token {
			t.Fatalf("parseAPIToken accepted %q, which is not the canonical %q", token, canonical)
		}
	})
}
