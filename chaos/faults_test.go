package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/workflows"
)

// A fault scenario says how the target answers the n-th delivery (1-based) of one idempotency key.
type faultScenario int

const (
	// fail500Thrice answers 500 three times, then applies.
	fail500Thrice faultScenario = iota
	// throttleOnce answers 429 with Retry-After: 1, then applies.
	throttleOnce
	// fail500Always never applies.
	fail500Always
	// hangOnce keeps the first delivery until the client gives up (its timeout), then applies.
	hangOnce
)

// delivery is one delivery as the target answered it; status 0 means the client gave up first.
type delivery struct {
	status int
	at     time.Time
}

// faultTarget is a webhook receiver that verifies the signature, answers by scenario (chosen by the
// incident), and, as a real tool does, applies an idempotency key once: a later delivery of an applied
// key is answered 409 with the same id.
type faultTarget struct {
	scenarios map[string]faultScenario // by incident ID

	mu         sync.Mutex
	deliveries map[string][]delivery // by idempotency key
	applied    map[string]string     // idempotency key -> the id the target gave the action
	problems   []string
}

func newFaultTarget(scenarios map[string]faultScenario) *faultTarget {
	return &faultTarget{scenarios: scenarios, deliveries: map[string][]delivery{}, applied: map[string]string{}}
}

func (f *faultTarget) problem(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

func (f *faultTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.problem("read body: %v", err)
		return
	}
	if err := connector.Verify([]byte(webhookSecret), r.Header.Get(connector.HeaderTimestamp), body,
		r.Header.Get(connector.HeaderSignature), time.Now(), 5*time.Minute); err != nil {
		f.problem("delivery with a bad signature: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p connector.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		f.problem("undecodable payload: %v", err)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	key := r.Header.Get(connector.HeaderIdempotencyKey)
	if key == "" || key != p.IdempotencyKey {
		f.problem("Idempotency-Key header %q, payload key %q", key, p.IdempotencyKey)
	}
	scenario, ok := f.scenarios[p.IncidentID]
	if !ok {
		f.problem("delivery for unexpected incident %s", p.IncidentID)
		http.Error(w, "unknown incident", http.StatusNotFound)
		return
	}
	f.mu.Lock()
	n := len(f.deliveries[key]) + 1
	f.mu.Unlock()

	status := http.StatusOK
	switch {
	case scenario == fail500Thrice && n <= 3, scenario == fail500Always:
		status = http.StatusInternalServerError
	case scenario == throttleOnce && n == 1:
		status = http.StatusTooManyRequests
	case scenario == hangOnce && n == 1:
		select { // longer than the connector's client timeout: it gives up first
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
			f.problem("the client did not give up on a hanging delivery of %s", key)
		}
		f.record(key, 0)
		return
	}
	if status != http.StatusOK {
		f.record(key, status)
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeJSON(w, status, map[string]any{"error": map[string]string{"code": "Unavailable", "message": "backend down, try later"}})
		return
	}
	f.mu.Lock()
	id, dup := f.applied[key]
	if dup {
		status = http.StatusConflict
	} else {
		id = fmt.Sprintf("ext-%d", len(f.applied)+1)
		f.applied[key] = id
	}
	f.deliveries[key] = append(f.deliveries[key], delivery{status: status, at: time.Now()})
	f.mu.Unlock()
	writeJSON(w, status, map[string]string{"id": id})
}

func (f *faultTarget) record(key string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deliveries[key] = append(f.deliveries[key], delivery{status: status, at: time.Now()})
}

func (f *faultTarget) snapshot(key string) ([]delivery, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]delivery(nil), f.deliveries[key]...), f.applied[key]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// A connector target that fails, throttles or hangs: the action is retried within the policy and applied
// once when the target recovers, or marked failed with the target's reason after the policy's attempts;
// either way the incident is not blocked and closes once classified and decided.
func TestConnectorFaults(t *testing.T) {
	s := startStack(t)
	tenant := phishing(t, "x").TenantID
	grant(t, s.access, tenant)

	scenarios := map[string]faultScenario{
		"chaos-500-then-ok": fail500Thrice,
		"chaos-429-then-ok": throttleOnce,
		"chaos-500-always":  fail500Always,
		"chaos-timeout":     hangOnce,
	}
	target := newFaultTarget(scenarios)
	srv := httptest.NewServer(target)
	t.Cleanup(srv.Close)
	hook, err := connector.NewWebhook(connector.WebhookConfig{
		URL: srv.URL + "/actions", Secret: []byte(webhookSecret),
		// The client timeout is the connector's: a target slower than this is a timeout, retried.
		HTTPClient: &http.Client{Timeout: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	registry := connector.NewRegistry(hook)
	// The default policy (5 attempts) for the target that recovers; a short one (3 attempts: 2 s, then 4 s
	// of backoff) for the target that never does.
	const patientQueue, shortQueue = "chaos-faults", "chaos-faults-short"
	startWorker(t, s.client, patientQueue, s.newActivities(t, registry, nil), workerOptions("faults-patient"))
	startWorker(t, s.client, shortQueue, s.newActivities(t, registry, func(p *activities.Policy) { p.ApplyAttempts = 3 }), workerOptions("faults-short"))
	if n := activities.DefaultPolicy().ApplyAttempts; n < 4 {
		t.Fatalf("the default policy allows %d attempts; fail500Thrice needs 4", n)
	}

	cases := []struct {
		incident       string
		queue          string
		wantApplied    bool
		wantDeliveries []int // statuses the target answered, in order; 0: the client gave up
		wantReason     string
	}{
		{"chaos-500-then-ok", patientQueue, true, []int{500, 500, 500, 200}, ""},
		{"chaos-429-then-ok", patientQueue, true, []int{429, 200}, ""},
		{"chaos-500-always", shortQueue, false, []int{500, 500, 500}, "HTTP 500"},
		{"chaos-timeout", patientQueue, true, []int{0, 200}, ""},
	}
	t.Run("group", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.incident, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
				defer cancel()
				inc := phishing(t, tc.incident)
				workflowID := workflows.IncidentWorkflowID(inc.TenantID, inc.ID)
				if _, err := workflows.TriggerIncident(ctx, s.client, workflows.TriggerOptions{TaskQueue: tc.queue}, inc); err != nil {
					t.Fatal(err)
				}
				cards := readyCards(t, s.client, workflowID, 30*time.Second)
				apply, rest := split(cards, func(card.Action) bool { return true })
				if len(apply) < 2 {
					t.Fatalf("want at least two actions to apply, have %d", len(apply))
				}
				rest = append(rest, apply[2:]...)
				apply = apply[:2]
				if err := classify(ctx, s.client, workflowID); err != nil {
					t.Fatalf("classify: %v", err)
				}
				if err := decide(ctx, s.client, workflowID, card.DecisionReject, ids(rest)); err != nil {
					t.Fatalf("reject the rest: %v", err)
				}
				if err := decide(ctx, s.client, workflowID, card.DecisionApprove, ids(apply)); err != nil {
					t.Fatalf("approve: %v", err)
				}
				res, err := waitClosed(ctx, s.client, workflowID)
				if err != nil {
					t.Fatalf("the incident did not close: %v", err)
				}
				wantApplied, wantFailed := 0, 0
				if tc.wantApplied {
					wantApplied = len(apply)
				} else {
					wantFailed = len(apply)
				}
				if res.Applied != wantApplied || res.Failed != wantFailed {
					t.Errorf("closed with %d applied and %d failed, want %d and %d", res.Applied, res.Failed, wantApplied, wantFailed)
				}

				closed, err := queryCards(ctx, s.client, workflowID)
				if err != nil {
					t.Fatal(err)
				}
				audit, err := s.store.ListAudit(ctx, inc.TenantID, inc.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range apply {
					key := idempotencyKey(workflowID, want)
					got, externalID := target.snapshot(key)
					statuses := make([]int, len(got))
					for i, d := range got {
						statuses[i] = d.status
					}
					if fmt.Sprint(statuses) != fmt.Sprint(tc.wantDeliveries) {
						t.Errorf("%s: the target answered %v, want %v", want.Action, statuses, tc.wantDeliveries)
					}
					if tc.wantApplied && externalID == "" {
						t.Errorf("%s: never applied at the target", want.Action)
					}
					if !tc.wantApplied && externalID != "" {
						t.Errorf("%s: applied at the target (%s) though every delivery failed", want.Action, externalID)
					}
					if len(got) >= 2 {
						t.Logf("%s: %d deliveries, from first to last %s", want.Action, len(got), got[len(got)-1].at.Sub(got[0].at).Round(100*time.Millisecond))
					}

					c, err := cardByID(closed.Cards, want.ID)
					if err != nil {
						t.Fatal(err)
					}
					log, err := s.store.GetAction(ctx, key)
					if err != nil {
						t.Fatalf("%s: action log: %v", want.Action, err)
					}
					if tc.wantApplied {
						if c.Status != card.StatusApplied || c.Result == nil || c.Result.ExternalID != externalID ||
							c.Result.Attempts != len(tc.wantDeliveries) || c.Result.Error != "" {
							t.Errorf("%s: card %s, result %+v; want applied with the target's id %s after %d attempts",
								want.Action, c.Status, c.Result, externalID, len(tc.wantDeliveries))
						}
						if log.Status != store.ActionApplied || log.ExternalID != externalID {
							t.Errorf("%s: action log %+v, want applied with %s", want.Action, log, externalID)
						}
					} else {
						if c.Status != card.StatusFailed || c.Result == nil || !strings.Contains(c.Result.Error, tc.wantReason) ||
							!strings.Contains(c.Result.Error, "backend down") {
							t.Errorf("%s: card %s, result %+v; want failed with %q and the target's message", want.Action, c.Status, c.Result, tc.wantReason)
						} else {
							t.Logf("%s failed with: %s", want.Action, c.Result.Error)
						}
						if log.Status != store.ActionFailed || !strings.Contains(log.Error, tc.wantReason) {
							t.Errorf("%s: action log %+v, want failed with %q", want.Action, log, tc.wantReason)
						}
					}
					if !auditHasAction(audit, want.ID, string(c.Status), tc.wantReason) {
						t.Errorf("%s: no action event with status %s and reason %q in the audit trail", want.Action, c.Status, tc.wantReason)
					}
				}
			})
		}
	})
	target.mu.Lock()
	defer target.mu.Unlock()
	for _, p := range target.problems {
		t.Error("target:", p)
	}
}

// auditHasAction reports whether the trail records the card's action with status and, when reason is
// set, an error containing it.
func auditHasAction(events []store.AuditEvent, cardID, status, reason string) bool {
	for _, e := range events {
		if e.Kind != "action" || e.CardID != cardID {
			continue
		}
		var d struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if json.Unmarshal(e.Detail, &d) == nil && d.Status == status && strings.Contains(d.Error, reason) {
			return true
		}
	}
	return false
}
