package workflows

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// testIncident is a small valid incident; lastUpdated sets its version.
func testIncident(lastUpdated time.Time, status incident.Status) incident.Incident {
	return incident.Incident{
		TenantID:      "contoso",
		ID:            "42",
		Title:         "Phishing email delivered, then *clicked*",
		Severity:      incident.SeverityHigh,
		Status:        status,
		CreatedAt:     t0,
		LastUpdatedAt: lastUpdated,
		Alerts: []incident.Alert{{
			ID:              "da1",
			Title:           "Email messages containing malicious URL removed after delivery",
			Severity:        incident.SeverityHigh,
			Category:        "InitialAccess",
			MitreTechniques: []string{"T1566.002"},
			CreatedAt:       t0,
			Entities: []incident.Entity{{
				Kind:    incident.KindIP,
				Verdict: incident.VerdictMalicious,
				Roles:   []incident.Role{incident.RoleAttacker},
				IP:      &incident.IP{Address: "203.0.113.7"},
			}},
		}},
	}
}

type suite struct {
	testsuite.WorkflowTestSuite
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s suite
	env := s.NewTestWorkflowEnvironment()
	// The SDK's deadlock detector fails a workflow whose task runs a second of wall time without yielding.
	// In the test environment that is fatal, and a CPU shared by parallel test packages made it happen
	// (TestGuidedResponseThroughUpdates, under go test -p 8 on two cores); a real deadlock still shows.
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 30 * time.Second})
	env.RegisterActivity(&activities.Activities{})
	return env
}

func queryStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) StatusOutput {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus, StatusInput{})
	if err != nil {
		t.Fatalf("query status: %v", err)
	}
	var st StatusOutput
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// The incident is persisted, shows up as open, takes newer versions, ignores duplicates and older ones,
// records malformed updates, and closes when its source resolves and classifies it.
func TestIncidentWorkflowLifecycle(t *testing.T) {
	h := newHarness(t)
	env := h.env
	first := testIncident(t0, incident.StatusActive)
	newer := testIncident(t0.Add(time.Hour), incident.StatusInProgress)
	older := testIncident(t0.Add(-time.Hour), incident.StatusActive)
	foreign := testIncident(t0.Add(2*time.Hour), incident.StatusActive)
	foreign.ID = "43"
	resolved := testIncident(t0.Add(3*time.Hour), incident.StatusResolved)
	resolved.Classification = incident.ClassificationTruePositive
	resolved.Determination = incident.DeterminationPhishing

	h.at(time.Minute, func() {
		st := queryStatus(t, env)
		if st.Phase != PhaseOpen || !st.Persisted || st.IngestCount != 1 || st.Alerts != 1 || st.Entities != 1 || !st.Ready {
			t.Errorf("after start: %+v", st)
		}
		env.SignalWorkflow(SignalIncidentUpdated, IncidentUpdatedSignal{Incident: first}) // duplicate trigger
	})
	h.at(2*time.Minute, func() { env.SignalWorkflow(SignalIncidentUpdated, IncidentUpdatedSignal{Incident: newer}) })
	h.at(3*time.Minute, func() { env.SignalWorkflow(SignalIncidentUpdated, IncidentUpdatedSignal{Incident: older}) })
	h.at(4*time.Minute, func() { env.SignalWorkflow(SignalIncidentUpdated, "not an incident") })
	h.at(5*time.Minute, func() { env.SignalWorkflow(SignalIncidentUpdated, IncidentUpdatedSignal{Incident: foreign}) })
	h.at(6*time.Minute, func() {
		st := queryStatus(t, env)
		if st.Status != incident.StatusInProgress || st.IngestCount != 2 || st.RejectedUpdates != 2 {
			t.Errorf("after updates: %+v", st)
		}
		env.SignalWorkflow(SignalIncidentUpdated, IncidentUpdatedSignal{Incident: resolved})
	})
	h.run()
	res := h.wantCompleted()
	if res.Status != string(incident.StatusResolved) || res.IngestCount != 3 || res.Classification != incident.ClassificationTruePositive {
		t.Errorf("result %+v", res)
	}
	want := []time.Time{t0, t0.Add(time.Hour), t0.Add(3 * time.Hour)}
	if len(h.persisted) != len(want) {
		t.Fatalf("persisted versions %v, want %v", h.persisted, want)
	}
	for i := range want {
		if !h.persisted[i].Equal(want[i]) {
			t.Errorf("persist %d: %v, want %v", i, h.persisted[i], want[i])
		}
	}
	for _, c := range h.closed.Cards {
		if c.Category != card.CategoryTriage && c.Status != card.StatusExpired {
			t.Errorf("card %s is %s after the source resolved the incident", c.ID, c.Status)
		}
	}
}

func TestIncidentWorkflowSearchAttributes(t *testing.T) {
	h := newHarness(t)
	env := h.env
	var last temporal.SearchAttributes
	upserts := 0
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		last = args.Get(0).(temporal.SearchAttributes)
		upserts++
	}).Return(nil)
	h.at(time.Minute, func() {
		h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationFalsePositive, Determination: incident.DeterminationNotMalicious})
		h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-block", "c-isolate", "c-hunt"}, Decision: card.DecisionReject})
	})
	h.run()
	h.wantCompleted()
	if upserts < 2 {
		t.Fatalf("search attributes upserted %d times, want at open and at close", upserts)
	}
	for key, want := range map[temporal.SearchAttributeKeyKeyword]string{
		SearchAttributeTenant:         "contoso",
		SearchAttributeID:             "42",
		SearchAttributeSeverity:       "high",
		SearchAttributeStatus:         "closed",
		SearchAttributeClassification: "falsePositive",
	} {
		if got, ok := last.GetKeyword(key); !ok || got != want {
			t.Errorf("search attribute %s = %q (set %v), want %q", key.GetName(), got, ok, want)
		}
	}
	if n, ok := last.GetInt64(SearchAttributePendingApprovals); !ok || n != 0 {
		t.Errorf("pending approvals %d (set %v)", n, ok)
	}
}

func TestIncidentWorkflowContinuesAsNew(t *testing.T) {
	h := newHarness(t)
	env := h.env
	latest := testIncident(t0.Add(2*time.Hour), incident.StatusInProgress)
	h.at(time.Minute, func() {
		env.SignalWorkflow(SignalIncidentUpdated, IncidentUpdatedSignal{Incident: testIncident(t0.Add(time.Hour), incident.StatusActive)})
		env.SignalWorkflow(SignalIncidentUpdated, IncidentUpdatedSignal{Incident: latest})
	})
	env.ExecuteWorkflow(IncidentWorkflow, IncidentInput{Incident: testIncident(t0, incident.StatusActive), MaxUpdatesBeforeContinueAsNew: 1})

	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next IncidentInput
	if err := decodeContinueAsNewInput(can, &next); err != nil {
		t.Fatal(err)
	}
	if !next.Incident.LastUpdatedAt.Equal(latest.LastUpdatedAt) || next.Incident.Status != incident.StatusInProgress {
		t.Errorf("continue-as-new lost the newest version: %v %s", next.Incident.LastUpdatedAt, next.Incident.Status)
	}
	if next.IngestCount < 2 || next.MaxUpdatesBeforeContinueAsNew != 1 {
		t.Errorf("continue-as-new input: ingests %d, max %d", next.IngestCount, next.MaxUpdatesBeforeContinueAsNew)
	}
}

func decodeContinueAsNewInput(can *workflow.ContinueAsNewError, v any) error {
	payloads := can.Input.GetPayloads()
	if len(payloads) != 1 {
		return errors.New("continue-as-new has no single input")
	}
	return json.Unmarshal(payloads[0].GetData(), v)
}

func TestIncidentWorkflowRefusesInvalidInput(t *testing.T) {
	env := newEnv(t)
	bad := testIncident(t0, incident.StatusActive)
	bad.Severity = "catastrophic"
	env.ExecuteWorkflow(IncidentWorkflow, IncidentInput{Incident: bad})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeInvalidIncident || !appErr.NonRetryable() {
		t.Fatalf("want a non-retryable %s error, got %v", activities.ErrTypeInvalidIncident, err)
	}
}

func TestIncidentWorkflowFailsWhenPersistIsRefused(t *testing.T) {
	h := newHarness(t)
	h.persistErr = temporal.NewNonRetryableApplicationError("refused", activities.ErrTypeInvalidIncident, nil)
	h.run()
	var appErr *temporal.ApplicationError
	if err := h.env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeInvalidIncident {
		t.Fatalf("want the activity's error, got %v", err)
	}
}

func TestIncidentWorkflowID(t *testing.T) {
	if got := IncidentWorkflowID("contoso", "42"); got != "incident/contoso/42" {
		t.Errorf("plain ids: %s", got)
	}
	odd := IncidentWorkflowID("contoso", "42/../x y")
	if odd == IncidentWorkflowID("contoso", "42/../x z") || len(odd) > 64 {
		t.Errorf("ids outside the safe alphabet must hash apart and stay short: %s", odd)
	}
}

func TestDetailsMarkdownEscapesAttackerText(t *testing.T) {
	s := &incidentState{current: testIncident(t0, incident.StatusActive), phase: PhaseOpen, undoing: map[string]bool{}}
	s.current.Title = "# [click](http://evil) <script>"
	md := s.detailsMarkdown()
	for _, bad := range []string{"[click](", "<script>", "## #"} {
		if strings.Contains(md, bad) {
			t.Errorf("markdown keeps %q:\n%s", bad, md)
		}
	}
}
