package activities_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// target is a tool behind the signed webhook: it counts the deliveries per idempotency key and answers
// what the test says.
type target struct {
	mu     sync.Mutex
	counts map[string]int
	answer func(n int) (status int, header map[string]string)
}

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	tg.mu.Lock()
	tg.counts[key]++
	n := tg.counts[key]
	tg.mu.Unlock()
	status, header := http.StatusOK, map[string]string(nil)
	if tg.answer != nil {
		status, header = tg.answer(n)
	}
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"id":"ext-1"}`))
}

func setup(t *testing.T) (*activities.Activities, *target) {
	t.Helper()
	db := pgtest.MigratedDB(t)
	logger := hclog.NewNullLogger()
	tg := &target{counts: map[string]int{}}
	srv := httptest.NewServer(tg)
	t.Cleanup(srv.Close)
	hook, err := connector.NewWebhook(connector.WebhookConfig{URL: srv.URL, Secret: []byte("0123456789abcdef0123"), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	access := rbac.New(db, logger)
	ctx := context.Background()
	for p, role := range map[string]string{"alice@contoso.com": rbac.RoleSecurityOperator, "rita@contoso.com": rbac.RoleSecurityReader} {
		if err := access.UpsertPrincipal(ctx, rbac.PrincipalInput{TenantID: "contoso", ID: p}); err != nil {
			t.Fatal(err)
		}
		if err := access.GrantRole(ctx, "contoso", p, role); err != nil {
			t.Fatal(err)
		}
	}
	return &activities.Activities{
		Store: store.New(db, logger), Logger: logger, Access: access,
		Connectors: connector.NewRegistry(hook), Policy: activities.DefaultPolicy(),
	}, tg
}

func applyInput(key, principal string) activities.ApplyActionInput {
	return activities.ApplyActionInput{
		IdempotencyKey: key, TenantID: "contoso", IncidentID: "42", CardID: "c-1",
		Action: card.ActionIndicatorBlock, Permission: rbac.PermResponseManage, Principal: principal,
		Entity:     incident.Entity{Kind: incident.KindIP, IP: &incident.IP{Address: "203.0.113.7"}},
		Parameters: map[string]string{"indicatorType": "IpAddress", "indicatorValue": "203.0.113.7"},
	}
}

func run(t *testing.T, acts *activities.Activities, in activities.ApplyActionInput) (activities.ApplyActionOutput, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	v, err := env.ExecuteActivity(acts.ApplyAction, in)
	if err != nil {
		return activities.ApplyActionOutput{}, err
	}
	var out activities.ApplyActionOutput
	return out, v.Get(&out)
}

// The same idempotency key applied twice (a retry after a crash, a duplicate approval) reaches the
// target once; the second call returns the recorded result.
func TestApplyActionOnce(t *testing.T) {
	acts, tg := setup(t)
	in := applyInput("incident/contoso/42/c-1/indicator.block", "alice@contoso.com")
	first, err := run(t, acts, in)
	if err != nil {
		t.Fatal(err)
	}
	second, err := run(t, acts, in)
	if err != nil {
		t.Fatal(err)
	}
	if tg.counts[in.IdempotencyKey] != 1 {
		t.Fatalf("target received the action %d times", tg.counts[in.IdempotencyKey])
	}
	if first.Result.ExternalID != "ext-1" || second.Result.ExternalID != first.Result.ExternalID {
		t.Errorf("results %+v and %+v", first.Result, second.Result)
	}
}

// The apply activity checks the principal again: a reader cannot apply, whatever the workflow said.
func TestApplyActionChecksPermissionAgain(t *testing.T) {
	acts, tg := setup(t)
	_, err := run(t, acts, applyInput("k-reader", "rita@contoso.com"))
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeActionForbidden || !appErr.NonRetryable() {
		t.Fatalf("want a non-retryable %s, got %v", activities.ErrTypeActionForbidden, err)
	}
	if !strings.Contains(err.Error(), "lacks permission") || len(tg.counts) != 0 {
		t.Errorf("error %v, deliveries %v", err, tg.counts)
	}
	_, err = run(t, acts, applyInput("k-ghost", "ghost@contoso.com"))
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeActionForbidden {
		t.Fatalf("unknown principal: %v", err)
	}
}

// Target failures map to retries: 5xx retryable, 429 with Retry-After sets the next retry delay, 4xx
// permanent.
func TestApplyActionErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		header    map[string]string
		wantType  string
		permanent bool
		delay     time.Duration
	}{
		{"server error", 500, nil, activities.ErrTypeActionRetryable, false, 0},
		{"throttled", 429, map[string]string{"Retry-After": "7"}, activities.ErrTypeActionRetryable, false, 7 * time.Second},
		{"forbidden", 403, nil, activities.ErrTypeActionPermanent, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acts, tg := setup(t)
			tg.answer = func(int) (int, map[string]string) { return tc.status, tc.header }
			_, err := run(t, acts, applyInput("k-"+tc.name, "alice@contoso.com"))
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) {
				t.Fatalf("want an application error, got %v", err)
			}
			if appErr.Type() != tc.wantType || appErr.NonRetryable() != tc.permanent || appErr.NextRetryDelay() != tc.delay {
				t.Errorf("type %s nonRetryable %v delay %v; want %s %v %v", appErr.Type(), appErr.NonRetryable(), appErr.NextRetryDelay(), tc.wantType, tc.permanent, tc.delay)
			}
		})
	}
}
