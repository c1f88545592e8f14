package connector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

func newTestDefender(t *testing.T, f *fakeMicrosoft) *DefenderEndpoint {
	t.Helper()
	d, err := NewDefenderEndpoint(DefenderConfig{BaseURL: f.server.URL, Credentials: f.creds(), PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// machineActionJSON is a machineAction as the API answers it.
func machineActionJSON(id, kind, status string) string {
	return fmt.Sprintf(`{"@odata.context":"https://api.securitycenter.microsoft.com/api/$metadata#MachineActions/$entity",`+
		`"id":%q,"type":%q,"scope":"Full","requestor":"7b1e2f4a-0c3d-4e5f-8a9b-1c2d3e4f5a6b","requestorComment":"test",`+
		`"status":%q,"machineId":%q,"computerDnsName":"ws-042","creationDateTimeUtc":"2024-05-01T10:00:00.1234567Z",`+
		`"lastUpdateDateTimeUtc":"2024-05-01T10:00:05.1234567Z","relatedFileInfo":null}`, id, kind, status, testMachineID)
}

// machineActionServer answers a machine action POST with Pending, then each GET with the next status.
func machineActionServer(f *fakeMicrosoft, id, kind string, statuses ...string) *atomic.Int32 {
	var polls atomic.Int32
	f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/machines/"):
			writeJSON(w, http.StatusCreated, machineActionJSON(id, kind, MachineActionPending))
		case r.Method == http.MethodGet && r.URL.Path == "/api/machineactions/"+id:
			n := int(polls.Add(1)) - 1
			writeJSON(w, http.StatusOK, machineActionJSON(id, kind, statuses[min(n, len(statuses)-1)]))
		default:
			writeJSON(w, http.StatusNotFound, `{"error":{"code":"ResourceNotFound","message":"not found"}}`)
		}
	})
	return &polls
}

func TestDefenderIsolatePollsUntilSucceeded(t *testing.T) {
	f := newFakeMicrosoft(t)
	const id = "5382f7ea-7557-4ab7-9782-d50480024a4e"
	machineActionServer(f, id, "Isolate", MachineActionPending, MachineActionInProgress, MachineActionInProgress, MachineActionSucceeded)
	d := newTestDefender(t, f)
	var n notes
	res, err := d.Apply(context.Background(), request(card.ActionDeviceIsolate, deviceEntity(), nil), n.add)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID != id {
		t.Errorf("ExternalID = %q, want %q", res.ExternalID, id)
	}
	var statuses []string
	for _, note := range n.all() {
		statuses = append(statuses, note[strings.LastIndex(note, " ")+1:])
	}
	want := []string{"Pending", "Pending", "InProgress", "InProgress", "Succeeded"}
	if !reflect.DeepEqual(statuses, want) {
		t.Errorf("progress statuses = %v, want %v (notes %q)", statuses, want, n.all())
	}
	reqs := f.seen()
	post := reqs[0]
	if post.Method != http.MethodPost || post.Path != "/api/machines/"+testMachineID+"/isolate" {
		t.Fatalf("first request %s %s, want POST /api/machines/{id}/isolate", post.Method, post.Path)
	}
	if got := post.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	body := decodeBody(t, post.Body)
	if body["IsolationType"] != "Full" || !strings.Contains(body["Comment"].(string), "approved in triage") ||
		!strings.Contains(body["Comment"].(string), "inc-1") || len(body) != 2 {
		t.Errorf("isolate body = %v, want Comment and IsolationType Full", body)
	}
	if len(reqs) != 5 {
		t.Errorf("%d API requests, want 1 POST and 4 polls", len(reqs))
	}
}

func TestDefenderMachineActionEndsBadly(t *testing.T) {
	for _, status := range []string{MachineActionFailed, MachineActionTimeOut, MachineActionCancelled} {
		t.Run(status, func(t *testing.T) {
			f := newFakeMicrosoft(t)
			machineActionServer(f, "a1", "Isolate", MachineActionInProgress, status)
			_, err := newTestDefender(t, f).Apply(context.Background(), request(card.ActionDeviceIsolate, deviceEntity(), nil), nil)
			if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), status) {
				t.Fatalf("err = %v, want a permanent error naming %s", err, status)
			}
		})
	}
}

func TestDefenderMachineActionRequests(t *testing.T) {
	tests := []struct {
		action card.Action
		entity incident.Entity
		params map[string]string
		path   string
		body   map[string]any // besides Comment
	}{
		{card.ActionDeviceIsolate, deviceEntity(), map[string]string{"isolationType": "selective"}, "isolate", map[string]any{"IsolationType": "Selective"}},
		{card.ActionDeviceRelease, deviceEntity(), nil, "unisolate", map[string]any{}},
		{card.ActionDeviceRestrictAppExecution, deviceEntity(), nil, "restrictCodeExecution", map[string]any{}},
		{card.ActionDeviceRemoveAppRestriction, deviceEntity(), nil, "unrestrictCodeExecution", map[string]any{}},
		{card.ActionDeviceRunAntivirusScan, deviceEntity(), nil, "runAntiVirusScan", map[string]any{"ScanType": "Quick"}},
		{card.ActionDeviceRunAntivirusScan, deviceEntity(), map[string]string{"scanType": "Full"}, "runAntiVirusScan", map[string]any{"ScanType": "Full"}},
		{card.ActionDeviceCollectInvestigation, deviceEntity(), nil, "collectInvestigationPackage", map[string]any{}},
		{card.ActionFileStopAndQuarantine, fileEntity(), nil, "StopAndQuarantineFile", map[string]any{"Sha1": "87662bc3d60e4200ceaf7aae249d1c343f4b83c9"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.action)+"/"+tt.path, func(t *testing.T) {
			f := newFakeMicrosoft(t)
			machineActionServer(f, "a1", "X", MachineActionSucceeded)
			if _, err := newTestDefender(t, f).Apply(context.Background(), request(tt.action, tt.entity, tt.params), nil); err != nil {
				t.Fatal(err)
			}
			post := f.seen()[0]
			if want := "/api/machines/" + testMachineID + "/" + tt.path; post.Path != want {
				t.Errorf("path = %s, want %s", post.Path, want)
			}
			body := decodeBody(t, post.Body)
			if _, ok := body["Comment"].(string); !ok {
				t.Errorf("body %v has no Comment", body)
			}
			delete(body, "Comment")
			if !reflect.DeepEqual(body, tt.body) {
				t.Errorf("body = %v, want %v and Comment", body, tt.body)
			}
		})
	}
}

func TestDefenderRefusesBadRequestsWithoutCalling(t *testing.T) {
	noDevice := deviceEntity()
	noDevice.Device.MdeDeviceID = ""
	noSHA1 := fileEntity()
	noSHA1.File.SHA1 = ""
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"no machine id", request(card.ActionDeviceIsolate, noDevice, nil), "mdeDeviceId"},
		{"wrong entity", request(card.ActionDeviceIsolate, hybridUserEntity(), nil), "device entity"},
		{"bad isolation type", request(card.ActionDeviceIsolate, deviceEntity(), map[string]string{"isolationType": "Partial"}), "isolationType"},
		{"no sha1", request(card.ActionFileStopAndQuarantine, noSHA1, nil), "SHA-1"},
		{"live response", request(card.ActionDeviceLiveResponse, deviceEntity(), nil), "not supported"},
		{"process kill", request(card.ActionProcessKill, deviceEntity(), nil), "not supported"},
		{"user action", request(card.ActionUserDisable, hybridUserEntity(), nil), "not a Defender"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMicrosoft(t)
			_, err := newTestDefender(t, f).Apply(context.Background(), tt.req, nil)
			if !IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a permanent error about %s", err, tt.want)
			}
			if n := len(f.seen()); n != 0 {
				t.Errorf("%d requests sent for a request refused locally", n)
			}
		})
	}
}

func TestDefenderFollowsActionAlreadyInProgress(t *testing.T) {
	f := newFakeMicrosoft(t)
	const id = "69dc3630-1ccc-4342-acf3-35286eec741d"
	var filter string
	f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.Method == http.MethodPost:
			writeJSON(w, http.StatusBadRequest, `{"error":{"code":"ActiveRequestAlreadyExists","message":"Action is already in progress","target":"43f4cb08-8fac-4b65-9db1-745c2ae65f3a"}}`)
		case r.URL.Path == "/api/machineactions":
			filter = r.URL.Query().Get("$filter")
			writeJSON(w, http.StatusOK, `{"@odata.context":"x","value":[`+
				machineActionJSON("old", "RunAntiVirusScan", MachineActionSucceeded)+","+
				machineActionJSON(id, "RunAntiVirusScan", MachineActionInProgress)+`]}`)
		case r.URL.Path == "/api/machineactions/"+id:
			writeJSON(w, http.StatusOK, machineActionJSON(id, "RunAntiVirusScan", MachineActionSucceeded))
		default:
			writeJSON(w, http.StatusNotFound, `{}`)
		}
	})
	res, err := newTestDefender(t, f).Apply(context.Background(), request(card.ActionDeviceRunAntivirusScan, deviceEntity(), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID != id {
		t.Errorf("ExternalID = %q, want the pending action %q", res.ExternalID, id)
	}
	if want := "machineId eq '" + testMachineID + "' and type eq 'RunAntiVirusScan'"; filter != want {
		t.Errorf("$filter = %q, want %q", filter, want)
	}
}

func TestDefenderPollSurvivesTransientErrors(t *testing.T) {
	f := newFakeMicrosoft(t)
	var polls atomic.Int32
	f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Method == http.MethodPost {
			writeJSON(w, http.StatusCreated, machineActionJSON("a1", "Isolate", MachineActionPending))
			return
		}
		if polls.Add(1) <= 2 {
			writeJSON(w, http.StatusInternalServerError, `{"error":{"code":"InternalServerError","message":""}}`)
			return
		}
		writeJSON(w, http.StatusOK, machineActionJSON("a1", "Isolate", MachineActionSucceeded))
	})
	if _, err := newTestDefender(t, f).Apply(context.Background(), request(card.ActionDeviceIsolate, deviceEntity(), nil), nil); err != nil {
		t.Fatal(err)
	}
}

func TestDefenderPollHonoursCancellation(t *testing.T) {
	f := newFakeMicrosoft(t)
	polls := machineActionServer(f, "a1", "Isolate", MachineActionPending)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := func(string) {
		if polls.Load() >= 3 {
			cancel()
		}
	}
	_, err := newTestDefender(t, f).Apply(ctx, request(card.ActionDeviceIsolate, deviceEntity(), nil), progress)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if IsPermanent(err) {
		t.Error("a cancelled apply is not a permanent failure")
	}
}

func TestDefenderHTTPErrorMapping(t *testing.T) {
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		permanent  bool
		retryAfter [2]time.Duration // range
	}{
		{"400", http.StatusBadRequest, nil, `{"error":{"code":"InvalidRequestBody","message":"Request body is incorrect"}}`, true, [2]time.Duration{}},
		{"403", http.StatusForbidden, nil, `{"error":{"code":"Forbidden","message":"valid token but insufficient permission"}}`, true, [2]time.Duration{}},
		{"404", http.StatusNotFound, nil, `{"error":{"code":"ResourceNotFound","message":"Machine 123 was not found"}}`, true, [2]time.Duration{}},
		{"429 seconds", http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, `{"error":{"code":"TooManyRequests","message":"quota"}}`, false, [2]time.Duration{7 * time.Second, 7 * time.Second}},
		{"429 date", http.StatusTooManyRequests, map[string]string{"Retry-After": date}, ``, false, [2]time.Duration{27 * time.Second, 31 * time.Second}},
		{"503 seconds", http.StatusServiceUnavailable, map[string]string{"Retry-After": "120"}, ``, false, [2]time.Duration{2 * time.Minute, 2 * time.Minute}},
		{"503 no header", http.StatusServiceUnavailable, nil, ``, false, [2]time.Duration{}},
		{"500", http.StatusInternalServerError, nil, `{"error":{"code":"InternalServerError","message":""}}`, false, [2]time.Duration{}},
		{"502", http.StatusBadGateway, nil, `<html>bad gateway</html>`, false, [2]time.Duration{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMicrosoft(t)
			f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tt.status, tt.body)
			})
			d := newTestDefender(t, f)
			// Several times: a retryable error stays retryable.
			for range 3 {
				_, err := d.Apply(context.Background(), request(card.ActionDeviceIsolate, deviceEntity(), nil), nil)
				var ce *Error
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v (%T), want *Error", err, err)
				}
				if ce.Permanent != tt.permanent || ce.StatusCode != tt.status {
					t.Fatalf("err = %+v, want permanent %v status %d", ce, tt.permanent, tt.status)
				}
				ra, _ := RetryAfter(err)
				if ra < tt.retryAfter[0] || ra > tt.retryAfter[1] {
					t.Errorf("RetryAfter = %s, want %s..%s", ra, tt.retryAfter[0], tt.retryAfter[1])
				}
			}
			if n := f.tokenRequests(); n != 1 {
				t.Errorf("%d token requests over three calls, want 1 (cached)", n)
			}
		})
	}
}

func TestDefenderNetworkErrorIsRetryable(t *testing.T) {
	f := newFakeMicrosoft(t)
	f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	_, err := newTestDefender(t, f).Apply(context.Background(), request(card.ActionDeviceIsolate, deviceEntity(), nil), nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Permanent || ce.StatusCode != 0 {
		t.Fatalf("err = %v, want a retryable *Error without status", err)
	}
}

func TestTokenRefreshedOnceOn401(t *testing.T) {
	f := newFakeMicrosoft(t)
	machineActionServer(f, "a1", "Isolate", MachineActionSucceeded)
	d := newTestDefender(t, f)
	ctx := context.Background()
	if _, err := d.Apply(ctx, request(card.ActionDeviceIsolate, deviceEntity(), nil), nil); err != nil {
		t.Fatal(err)
	}
	// The cached token is revoked before its expiry: one 401, one new token, the request goes through.
	f.revokeTokens()
	if _, err := d.Apply(ctx, request(card.ActionDeviceIsolate, deviceEntity(), nil), nil); err != nil {
		t.Fatal(err)
	}
	if n := f.tokenRequests(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}

	// The API refuses every token: one retry with a fresh token, then a permanent error.
	f2 := newFakeMicrosoft(t)
	f2.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
		writeJSON(w, http.StatusUnauthorized, `{"error":{"code":"Unauthorized","message":"no"}}`)
	})
	_, err := newTestDefender(t, f2).Apply(ctx, request(card.ActionDeviceIsolate, deviceEntity(), nil), nil)
	var ce *Error
	if !errors.As(err, &ce) || !ce.Permanent || ce.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a permanent 401", err)
	}
	if n := f2.tokenRequests(); n != 2 {
		t.Errorf("%d token requests, want 2 (one refresh)", n)
	}
	if n := len(f2.seen()); n != 2 {
		t.Errorf("%d API requests, want 2 (one retry)", n)
	}
}

func TestTokenCachedUntilExpiry(t *testing.T) {
	f := newFakeMicrosoft(t)
	machineActionServer(f, "a1", "Isolate", MachineActionSucceeded)
	d := newTestDefender(t, f)
	clock := &fakeClock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	d.api.tokens.now = clock.Now
	ctx := context.Background()
	apply := func() {
		t.Helper()
		if _, err := d.Apply(ctx, request(card.ActionDeviceIsolate, deviceEntity(), nil), nil); err != nil {
			t.Fatal(err)
		}
	}
	apply()
	clock.Add(50 * time.Minute)
	apply()
	if n := f.tokenRequests(); n != 1 {
		t.Fatalf("%d token requests within the token's lifetime, want 1", n)
	}
	// expires_in is 3599 s; the token is renewed two minutes early.
	clock.Add(8 * time.Minute)
	apply()
	if n := f.tokenRequests(); n != 2 {
		t.Fatalf("%d token requests after 58 minutes, want 2", n)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		permanent bool
	}{
		{http.StatusUnauthorized, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`, true},
		{http.StatusBadRequest, `{"error":"unauthorized_client","error_description":"AADSTS700016: Application not found in the directory."}`, true},
		{http.StatusTooManyRequests, `{"error":"temporarily_unavailable"}`, false},
		{http.StatusInternalServerError, ``, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			f := newFakeMicrosoft(t)
			f.tokenStatus, f.tokenBody = tt.status, tt.body
			_, err := newTestDefender(t, f).Apply(context.Background(), request(card.ActionDeviceIsolate, deviceEntity(), nil), nil)
			var ce *Error
			if !errors.As(err, &ce) || ce.Permanent != tt.permanent || ce.StatusCode != tt.status {
				t.Fatalf("err = %v, want permanent %v with status %d", err, tt.permanent, tt.status)
			}
			if !strings.HasPrefix(err.Error(), "token: ") {
				t.Errorf("err = %q, want it to say the token failed", err)
			}
			if len(f.seen()) != 0 {
				t.Error("an API request went out without a token")
			}
		})
	}
}

func TestDefenderIndicatorBlock(t *testing.T) {
	tests := []struct {
		name   string
		entity incident.Entity
		params map[string]string
		value  string
		kind   string
	}{
		{"sha256", fileEntity(), nil, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "FileSha256"},
		{"sha1", fileEntity(), map[string]string{"indicatorType": "FileSha1"}, "87662bc3d60e4200ceaf7aae249d1c343f4b83c9", "FileSha1"},
		{"ip", incident.Entity{Kind: incident.KindIP, IP: &incident.IP{Address: "::ffff:12.13.14.15"}}, nil, "12.13.14.15", "IpAddress"},
		{"url", incident.Entity{Kind: incident.KindURL, URL: &incident.URL{URL: "https://evil.example/login"}}, nil, "https://evil.example/login", "Url"},
		{"domain", incident.Entity{Kind: incident.KindURL, URL: &incident.URL{URL: "https://Evil.Example/login"}}, map[string]string{"indicatorType": "DomainName"}, "evil.example", "DomainName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMicrosoft(t)
			f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
				writeJSON(w, http.StatusOK, `{"id":"995","indicatorValue":"x","indicatorType":"IpAddress","action":"Block","title":"t","severity":"High"}`)
			})
			params := map[string]string{"expirationTime": "2030-01-02T03:04:05Z"}
			for k, v := range tt.params {
				params[k] = v
			}
			res, err := newTestDefender(t, f).Apply(context.Background(), request(card.ActionIndicatorBlock, tt.entity, params), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExternalID != "995" {
				t.Errorf("ExternalID = %q, want 995", res.ExternalID)
			}
			req := f.seen()[0]
			if req.Method != http.MethodPost || req.Path != "/api/indicators" {
				t.Fatalf("%s %s, want POST /api/indicators", req.Method, req.Path)
			}
			body := decodeBody(t, req.Body)
			want := map[string]any{
				"indicatorValue": tt.value, "indicatorType": tt.kind, "action": "Block", "severity": "High",
				"expirationTime": "2030-01-02T03:04:05Z", "generateAlert": true,
			}
			for k, v := range want {
				if body[k] != v {
					t.Errorf("%s = %v, want %v", k, body[k], v)
				}
			}
			if body["title"] == "" || !strings.Contains(body["description"].(string), "inc-1") {
				t.Errorf("title/description = %v / %v", body["title"], body["description"])
			}
		})
	}
}

func TestDefenderIndicatorRemove(t *testing.T) {
	t.Run("by id", func(t *testing.T) {
		f := newFakeMicrosoft(t)
		f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) { w.WriteHeader(http.StatusNoContent) })
		res, err := newTestDefender(t, f).Apply(context.Background(), request(card.ActionIndicatorRemove, fileEntity(), map[string]string{"indicatorId": "995"}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if req := f.seen()[0]; req.Method != http.MethodDelete || req.Path != "/api/indicators/995" || res.ExternalID != "995" {
			t.Errorf("%s %s -> %+v, want DELETE /api/indicators/995", req.Method, req.Path, res)
		}
	})
	t.Run("by lookup, already gone", func(t *testing.T) {
		f := newFakeMicrosoft(t)
		var filter string
		f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
			if r.Method == http.MethodGet {
				filter = r.URL.Query().Get("$filter")
				writeJSON(w, http.StatusOK, `{"value":[{"id":996,"indicatorValue":"12.13.14.15","indicatorType":"IpAddress","action":"Block"}]}`)
				return
			}
			writeJSON(w, http.StatusNotFound, `{"error":{"code":"NotFound","message":"gone"}}`)
		})
		ip := incident.Entity{Kind: incident.KindIP, IP: &incident.IP{Address: "12.13.14.15"}}
		res, err := newTestDefender(t, f).Apply(context.Background(), request(card.ActionIndicatorRemove, ip, nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := "indicatorValue eq '12.13.14.15' and indicatorType eq 'IpAddress'"; filter != want {
			t.Errorf("$filter = %q, want %q", filter, want)
		}
		if res.ExternalID != "996" || f.seen()[1].Path != "/api/indicators/996" {
			t.Errorf("result %+v, requests %v", res, f.seen())
		}
	})
	t.Run("none", func(t *testing.T) {
		f := newFakeMicrosoft(t)
		f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, http.StatusOK, `{"value":[]}`) })
		res, err := newTestDefender(t, f).Apply(context.Background(), request(card.ActionIndicatorRemove, fileEntity(), nil), nil)
		if err != nil || !strings.Contains(res.Message, "no indicator") {
			t.Fatalf("%+v, %v", res, err)
		}
	})
}

func TestODataStringQuotes(t *testing.T) {
	if got := odataString("o'brien"); got != "'o''brien'" {
		t.Errorf("odataString = %s", got)
	}
	q := url.QueryEscape("machineId eq 'a' and type eq 'Isolate'")
	if strings.ContainsAny(q, " '") {
		t.Errorf("query not escaped: %s", q)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 7 ", 7 * time.Second},
		{"-3", 0},
		{"1.5", 0},
		{"99999999999999999999", maxRetryAfter},
		{"Wed, 01 May 2024 10:00:30 GMT", 30 * time.Second},
		{"Wed, 01 May 2024 09:00:00 GMT", 0},
		{"Thu, 01 May 2025 10:00:00 GMT", maxRetryAfter},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestConcurrentAppliesShareOneToken(t *testing.T) {
	f := newFakeMicrosoft(t)
	machineActionServer(f, "a1", "Isolate", MachineActionInProgress, MachineActionSucceeded)
	d := newTestDefender(t, f)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := d.Apply(context.Background(), request(card.ActionDeviceIsolate, deviceEntity(), nil), nil)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := f.tokenRequests(); n != 1 {
		t.Errorf("%d token requests for 8 concurrent applies, want 1", n)
	}
}
