package connector

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guided-response/guided/card"
)

var testWebhookSecret = []byte("whsec_0123456789abcdef0123456789")

// webhookReceiver is a tool's endpoint: it verifies each request with Verify and answers with answer.
type webhookReceiver struct {
	t      *testing.T
	server *httptest.Server
	mu     sync.Mutex
	got    []WebhookPayload
	header []http.Header
	status int
	answer string
}

func newWebhookReceiver(t *testing.T, status int, answer string) *webhookReceiver {
	w := &webhookReceiver{t: t, status: status, answer: answer}
	w.server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := Verify(testWebhookSecret, r.Header.Get(HeaderTimestamp), body, r.Header.Get(HeaderSignature), time.Now(), 5*time.Minute)
		if err != nil {
			t.Errorf("receiver: Verify: %v", err)
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p WebhookPayload
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Errorf("receiver: payload %s: %v", body, err)
		}
		w.mu.Lock()
		w.got = append(w.got, p)
		w.header = append(w.header, r.Header.Clone())
		w.mu.Unlock()
		writeJSON(rw, w.status, w.answer)
	}))
	t.Cleanup(w.server.Close)
	return w
}

func newTestWebhook(t *testing.T, url string, actions ...card.Action) *Webhook {
	t.Helper()
	w, err := NewWebhook(WebhookConfig{URL: url, Secret: testWebhookSecret, Actions: actions})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookPostsSignedPayload(t *testing.T) {
	rcv := newWebhookReceiver(t, http.StatusCreated, `{"id":"ticket-42","status":"queued"}`)
	w := newTestWebhook(t, rcv.server.URL+"/hooks/guided", card.ActionEmailBlockSender)
	req := request(card.ActionEmailBlockSender, messageEntity(), map[string]string{"scope": "sender"})
	res, err := w.Apply(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID != "ticket-42" {
		t.Errorf("ExternalID = %q", res.ExternalID)
	}
	if len(rcv.got) != 1 {
		t.Fatalf("%d deliveries", len(rcv.got))
	}
	p, h := rcv.got[0], rcv.header[0]
	if h.Get(HeaderIdempotencyKey) != req.IdempotencyKey || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil || p.Timestamp.Unix() != ts {
		t.Errorf("timestamp header %q, payload %s", h.Get(HeaderTimestamp), p.Timestamp)
	}
	want := WebhookPayload{
		IdempotencyKey: req.IdempotencyKey, TenantID: req.TenantID, IncidentID: "inc-1", CardID: req.CardID,
		Action: card.ActionEmailBlockSender, Entity: req.Entity, Parameters: req.Parameters,
		Principal: "analyst@contoso.com", Comment: "approved in triage", Timestamp: p.Timestamp,
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("payload\n%+v\nwant\n%+v", p, want)
	}
	if w.Supports(card.ActionDeviceIsolate) {
		t.Error("a webhook limited to email.blockSender supports device.isolate")
	}
	if _, err := w.Apply(context.Background(), request(card.ActionDeviceIsolate, deviceEntity(), nil), nil); !IsPermanent(err) {
		t.Errorf("unrouted action: err = %v", err)
	}
}

func TestWebhookStatuses(t *testing.T) {
	tests := []struct {
		status    int
		answer    string
		ok        bool
		permanent bool
		id        string
	}{
		{http.StatusOK, `{"id":7}`, true, false, "7"},
		{http.StatusAccepted, ``, true, false, ""},
		{http.StatusNoContent, ``, true, false, ""},
		{http.StatusConflict, `{"id":"ticket-41","error":"already applied"}`, true, false, "ticket-41"},
		{http.StatusBadRequest, `{"error":"unknown action"}`, false, true, ""},
		{http.StatusForbidden, ``, false, true, ""},
		{http.StatusNotFound, ``, false, true, ""},
		{http.StatusInternalServerError, ``, false, false, ""},
		{http.StatusTooManyRequests, ``, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			rcv := newWebhookReceiver(t, tt.status, tt.answer)
			res, err := newTestWebhook(t, rcv.server.URL).Apply(context.Background(), request(card.ActionProcessKill, deviceEntity(), nil), nil)
			if tt.ok {
				if err != nil || res.ExternalID != tt.id {
					t.Fatalf("%+v, %v; want success with id %q", res, err, tt.id)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Permanent != tt.permanent || ce.StatusCode != tt.status {
				t.Fatalf("err = %v, want permanent %v", err, tt.permanent)
			}
		})
	}
}

func TestWebhookConfigRefused(t *testing.T) {
	if _, err := NewWebhook(WebhookConfig{URL: "https://hooks.example/x", Secret: []byte("short")}); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
	if _, err := NewWebhook(WebhookConfig{URL: "hooks.example/x", Secret: testWebhookSecret}); err == nil {
		t.Error("a relative URL was accepted")
	}
	if _, err := NewWebhook(WebhookConfig{URL: "https://hooks.example/x", Secret: testWebhookSecret, Actions: []card.Action{card.ActionTriageClassify}}); err == nil {
		t.Error("triage.classify was accepted")
	}
}

func TestSignVerify(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"idempotencyKey":"k","action":"email.blockSender"}`)
	sig := Sign(testWebhookSecret, ts, body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 || strings.ToLower(sig) != sig {
		t.Fatalf("Sign = %q, want sha256= and 64 lower-case hex digits", sig)
	}
	// Known answer, from Python: hmac.new(b"key", b"1.x", hashlib.sha256).hexdigest().
	if got := Sign([]byte("key"), "1", []byte("x")); got != "sha256=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec" {
		t.Fatalf("Sign = %q", got)
	}
	skew := 5 * time.Minute
	tests := []struct {
		name   string
		secret []byte
		ts     string
		body   []byte
		sig    string
		now    time.Time
		want   error
	}{
		{"valid", testWebhookSecret, ts, body, sig, now, nil},
		{"valid at the skew limit", testWebhookSecret, ts, body, sig, now.Add(skew), nil},
		{"valid slightly in the future", testWebhookSecret, ts, body, sig, now.Add(-time.Minute), nil},
		{"body changed", testWebhookSecret, ts, append(append([]byte{}, body...), ' '), sig, now, ErrBadSignature},
		{"timestamp changed", testWebhookSecret, strconv.FormatInt(now.Unix()+1, 10), body, sig, now, ErrBadSignature},
		{"secret changed", []byte("whsec_0123456789abcdef012345678X"), ts, body, sig, now, ErrBadSignature},
		{"upper-case hex", testWebhookSecret, ts, body, "sha256=" + strings.ToUpper(sig[7:]), now, ErrBadSignature},
		{"no prefix", testWebhookSecret, ts, body, sig[7:], now, ErrBadSignature},
		{"empty signature", testWebhookSecret, ts, body, "", now, ErrBadSignature},
		{"older than maxSkew", testWebhookSecret, ts, body, sig, now.Add(skew + time.Second), ErrStaleTimestamp},
		{"too far in the future", testWebhookSecret, ts, body, sig, now.Add(-skew - time.Second), ErrStaleTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.secret, tt.ts, tt.body, tt.sig, tt.now, skew); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "+1714557600", "-1", " 1714557600", "1714557600.5", "1e9", "0x10", "99999999999999"} {
		if err := Verify(testWebhookSecret, bad, body, Sign(testWebhookSecret, bad, body), now, skew); err == nil {
			t.Errorf("Verify accepted timestamp %q", bad)
		}
	}
	if err := Verify(nil, ts, body, Sign(nil, ts, body), now, skew); err == nil {
		t.Error("Verify accepted an empty secret")
	}
	if err := Verify(testWebhookSecret, ts, body, sig, now, 0); err == nil {
		t.Error("Verify accepted maxSkew 0")
	}
}
