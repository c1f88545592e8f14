package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// maxBearerLen bounds the credential of an Authorization header: far above an API token (72 bytes) and
// the JWTs identity providers issue, far below what would make parsing or logging it costly.
const maxBearerLen = 8192

// errNoCredential: the request has no Authorization header.
var errNoCredential = errors.New("no Authorization header")

// bearerCredential returns the bearer credential of a request: exactly one Authorization header, of the
// Bearer scheme. The error says what was wrong, for the authenticator's debug log only.
func bearerCredential(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", errNoCredential
	case 1:
		return parseBearer(values[0])
	default:
		return "", fmt.Errorf("%d Authorization headers", len(values))
	}
}

// parseBearer reads an Authorization header value of the Bearer scheme (RFC 6750 section 2.1):
// "Bearer", one or more spaces, and a b64token, nothing else. The scheme name is case-insensitive (RFC
// 9110 section 11.1).
func parseBearer(header string) (string, error) {
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New("not the Bearer scheme")
	}
	token := strings.TrimLeft(rest, " ")
	switch {
	case token == "":
		return "", errors.New("empty bearer credential")
	case len(token) > maxBearerLen:
		return "", fmt.Errorf("bearer credential longer than %d bytes", maxBearerLen)
	case !isB64Token(token):
		return "", errors.New("bearer credential has characters outside the b64token syntax")
	}
	return token, nil
}

// isB64Token tells whether s is 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
