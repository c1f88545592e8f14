package connector

import (
	"strconv"
	"testing"
	"time"
)

// FuzzVerify feeds Verify arbitrary secrets, timestamps, bodies, signatures and clocks. Verify must not
// panic, and must accept a signature only when it is exactly what Sign produces for that secret, timestamp
// and body, with the timestamp within the skew. Sign's own signatures must verify at their timestamp. The
// seeds in testdata/fuzz/FuzzVerify are a valid request and its near misses.
func FuzzVerify(f *testing.F) {
	const maxSkew = 5 * time.Minute
	f.Fuzz(func(t *testing.T, secret []byte, timestamp string, body []byte, signature string, nowUnix int64) {
		now := time.Unix(nowUnix, 0)
		err := Verify(secret, timestamp, body, signature, now, maxSkew)
		if err == nil {
			if len(secret) == 0 {
				t.Fatal("accepted with an empty secret")
			}
			if want := Sign(secret, timestamp, body); signature != want {
				t.Fatalf("accepted %q; Sign gives %q", signature, want)
			}
			ts, perr := strconv.ParseInt(timestamp, 10, 64)
			if perr != nil {
				t.Fatalf("accepted timestamp %q", timestamp)
			}
			if d := now.Sub(time.Unix(ts, 0)); d > maxSkew || d < -maxSkew {
				t.Fatalf("accepted timestamp %q at %d, %s away", timestamp, nowUnix, d)
			}
		}
		// Sign's signature verifies at its own timestamp when the timestamp is canonical unix seconds.
		ts, perr := strconv.ParseInt(timestamp, 10, 64)
		if len(secret) > 0 && perr == nil && ts >= 0 && strconv.FormatInt(ts, 10) == timestamp && len(timestamp) <= 12 {
			if err := Verify(secret, timestamp, body, Sign(secret, timestamp, body), time.Unix(ts, 0), maxSkew); err != nil {
				t.Fatalf("Sign's signature refused: %v", err)
			}
		}
	})
}
