package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/summary"
)

const (
	analyst  = "alice@contoso.com" // Security operator
	analyst2 = "bob@contoso.com"   // Security operator
	reader   = "rita@contoso.com"  // Security reader
)

func testAccess() rbac.Snapshot {
	operator := []rbac.Permission{rbac.PermSecurityDataRead, rbac.PermAlertsManage, rbac.PermResponseManage, rbac.PermEmailAdvancedManage}
	return rbac.Snapshot{TenantID: "contoso", Principals: map[string]rbac.Principal{
		analyst:  {TenantID: "contoso", ID: analyst, Kind: "user", Roles: []string{"Security operator"}, Permissions: operator},
		analyst2: {TenantID: "contoso", ID: analyst2, Kind: "user", Roles: []string{"Security operator"}, Permissions: operator},
		reader:   {TenantID: "contoso", ID: reader, Kind: "user", Roles: []string{"Security reader"}, Permissions: []rbac.Permission{rbac.PermSecurityDataRead}},
	}}
}

// testCards: a triage card, a low-risk block, a high-risk time-boxed isolation, an investigation step.
func testCards() []card.Card {
	ip := &card.EntityRef{Key: "ip:203.0.113.7", Kind: incident.KindIP, Name: "203.0.113.7"}
	return []card.Card{
		{ID: "c-triage", Category: card.CategoryTriage, Action: card.ActionTriageClassify, Permission: rbac.PermAlertsManage,
			Triage: &card.TriageSuggestion{Classification: incident.ClassificationTruePositive, Determination: incident.DeterminationPhishing, Confidence: 0.9, ModelVersion: "rules-v1"}},
		{ID: "c-block", Category: card.CategoryContainment, Title: "Block IP", Action: card.ActionIndicatorBlock, Entity: ip,
			Risk: card.RiskLow, Permission: rbac.PermResponseManage, Reversible: true, UndoAction: card.ActionIndicatorRemove},
		{ID: "c-isolate", Category: card.CategoryContainment, Title: "Isolate device", Action: card.ActionDeviceIsolate,
			Entity: &card.EntityRef{Key: "device:mde:1", Kind: incident.KindDevice, Name: "ws-1"}, Risk: card.RiskHigh,
			Permission: rbac.PermResponseManage, Reversible: true, UndoAction: card.ActionDeviceRelease, TimeBox: time.Hour},
		{ID: "c-hunt", Category: card.CategoryInvestigation, Title: "Hunt", Action: card.ActionInvestigateHunt, Risk: card.RiskLow,
			Permission: rbac.PermSecurityDataRead, Query: `DeviceNetworkEvents | where RemoteIP == "203.0.113.7"`},
	}
}

// harness is a test environment with every activity mocked the way the real ones answer.
type harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	mu       sync.Mutex
	applied  []activities.ApplyActionInput
	audits   []activities.AuditInput
	feedback []activities.FeedbackRecord
	closed   *activities.CloseIncidentInput
	// closeFailures fails that many CloseIncident attempts first (the retries keep the incident closing).
	closeFailures int
	applyErr      func(in activities.ApplyActionInput, attempt int) error
	attempts      map[string]int
	// persisted lists the versions PersistIncident stored; persistErr, when set, fails it.
	persisted  []time.Time
	persistErr error
	// cardsOut is what GenerateCards answers (testCards unless a test changes it before run).
	cardsOut []card.Card
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, env: newEnv(t), attempts: map[string]int{}}
	policy := activities.DefaultPolicy()
	h.env.OnActivity(a.PersistIncident, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PersistIncidentInput) (activities.PersistIncidentOutput, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.persistErr != nil {
			return activities.PersistIncidentOutput{}, h.persistErr
		}
		h.persisted = append(h.persisted, in.Incident.LastUpdatedAt)
		return activities.PersistIncidentOutput{Created: len(h.persisted) == 1, Changed: true}, nil
	})
	h.env.OnActivity(a.LoadAccess, mock.Anything, mock.Anything).Return(activities.LoadAccessOutput{Access: testAccess()}, nil)
	h.env.OnActivity(a.Summarize, mock.Anything, mock.Anything).Return(activities.SummarizeOutput{Story: summary.Story{Headline: "phish", Markdown: "## phish"}}, nil)
	h.cardsOut = testCards()
	h.env.OnActivity(a.GenerateCards, mock.Anything, mock.Anything).Return(func(context.Context, activities.GenerateCardsInput) (activities.GenerateCardsOutput, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return activities.GenerateCardsOutput{Cards: h.cardsOut, PlaybookVersion: "pb-1", ModelVersion: "rules-v1", Policy: policy}, nil
	})
	h.env.OnActivity(a.RecordAudit, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AuditInput) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.audits = append(h.audits, in)
		return nil
	})
	h.env.OnActivity(a.RecordFeedback, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FeedbackRecord) (activities.RecordFeedbackOutput, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.feedback = append(h.feedback, in)
		return activities.RecordFeedbackOutput{Created: true}, nil
	})
	h.env.OnActivity(a.ApplyAction, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ApplyActionInput) (activities.ApplyActionOutput, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.attempts[in.IdempotencyKey]++
		if h.applyErr != nil {
			if err := h.applyErr(in, h.attempts[in.IdempotencyKey]); err != nil {
				return activities.ApplyActionOutput{}, err
			}
		}
		h.applied = append(h.applied, in)
		return activities.ApplyActionOutput{Result: card.Result{Connector: "dry-run", ExternalID: "x-" + in.CardID, FinishedAt: time.Now()}}, nil
	})
	h.env.OnActivity(a.CloseIncident, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CloseIncidentInput) (activities.CloseIncidentOutput, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.closeFailures > 0 {
			h.closeFailures--
			return activities.CloseIncidentOutput{}, errors.New("database unavailable")
		}
		h.closed = &in
		return activities.CloseIncidentOutput{ReportMarkdown: "# report"}, nil
	})
	return h
}

// at runs f d after the start, in workflow time.
func (h *harness) at(d time.Duration, f func()) { h.env.RegisterDelayedCallback(f, d) }

// reply is the answer to an Update sent from a delayed callback; the test environment delivers it when
// the workflow has run, so it is read in a later callback.
type reply struct {
	done bool
	err  error
	val  any
}

// send sends an Update; read its reply in a later callback.
func (h *harness) send(name string, in any) *reply {
	r := &reply{}
	h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { r.done, r.err = true, err },
		OnComplete: func(v any, err error) {
			r.done, r.err, r.val = true, err, v
		},
	}, in)
	return r
}

// result is the reply's error; the reply must have arrived.
func (r *reply) result(t *testing.T) error {
	t.Helper()
	if !r.done {
		t.Fatal("the update has not been answered")
	}
	return r.err
}

// ok fails the test when the update was refused, and decodes its result into out.
func (r *reply) ok(t *testing.T, out any) {
	t.Helper()
	if err := r.result(t); err != nil {
		t.Fatalf("update refused: %v", err)
	}
	if out == nil || r.val == nil {
		return
	}
	b, err := json.Marshal(r.val)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) status() StatusOutput { return queryStatus(h.t, h.env) }

func (h *harness) cards(principal string) CardsOutput {
	v, err := h.env.QueryWorkflow(QueryCards, CardsInput{Principal: principal})
	if err != nil {
		h.t.Fatal(err)
	}
	var out CardsOutput
	if err := v.Get(&out); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) cardStatus(id string) card.Status {
	for _, c := range h.cards(analyst).Cards {
		if c.ID == id {
			return c.Status
		}
	}
	h.t.Fatalf("no card %s", id)
	return ""
}

func (h *harness) run() {
	h.env.ExecuteWorkflow(IncidentWorkflow, IncidentInput{Incident: testIncident(t0, incident.StatusActive)})
}

func (h *harness) wantCompleted() IncidentResult {
	h.t.Helper()
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow error: %v", err)
	}
	var res IncidentResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return res
}

func mustContain(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got nil", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// The whole guided response through Updates: cards as each principal sees them, refused decisions that
// change nothing, classification, approvals (with four-eyes on the high-risk card), actions applied
// once each, an investigation step acknowledged, and the close with its report.
func TestGuidedResponseThroughUpdates(t *testing.T) {
	h := newHarness(t)
	var refused []*reply
	var cls, bulk, again *reply
	h.at(time.Minute, func() {
		// The reader sees every card, actions greyed out with the missing permission.
		for _, c := range h.cards(reader).Cards {
			if c.Category == card.CategoryInvestigation {
				if !c.Available {
					t.Errorf("reader should be able to acknowledge the investigation step: %s", c.UnavailableReason)
				}
				continue
			}
			if c.Available || !strings.Contains(c.UnavailableReason, "lacks permission") {
				t.Errorf("card %s for the reader: available=%v reason=%q", c.ID, c.Available, c.UnavailableReason)
			}
		}
		for _, c := range h.cards(analyst).Cards {
			if !c.Available {
				t.Errorf("card %s unavailable to the analyst: %s", c.ID, c.UnavailableReason)
			}
		}
		if st := h.status(); !st.Ready || st.PendingApprovals != 2 {
			t.Errorf("status before decisions: %+v", st)
		}
		// Refused: no permission, unknown principal, wrong determination, unknown card.
		refused = []*reply{
			h.send(MessageDecide, DecideInput{Principal: reader, CardIDs: []string{"c-block"}, Decision: card.DecisionApprove}),
			h.send(MessageDecide, DecideInput{Principal: "mallory@evil", CardIDs: []string{"c-block"}, Decision: card.DecisionApprove}),
			h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationFalsePositive, Determination: incident.DeterminationPhishing}),
			h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-block", "nope"}, Decision: card.DecisionApprove}),
		}
	})
	h.at(2*time.Minute, func() {
		kinds := []string{RejectForbidden, RejectForbidden, RejectInvalid, RejectNotFound}
		for i, want := range [][]string{{"lacks permission", "secops.response.manage"}, {"not known"}, {"does not go with"}, {"no card nope"}} {
			err := refused[i].result(t)
			mustContain(t, err, want...)
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != kinds[i] {
				t.Errorf("refusal %d: want type %s, got %v", i, kinds[i], err)
			}
		}
		if h.cardStatus("c-block") != card.StatusProposed || h.status().Classification != nil {
			t.Error("a refused update changed the state")
		}
		cls = h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationTruePositive, Determination: incident.DeterminationPhishing})
		bulk = h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-block", "c-isolate", "c-hunt"}, Decision: card.DecisionApprove})
	})
	h.at(3*time.Minute, func() {
		var out ClassifyOutput
		cls.ok(t, &out)
		if out.Classification.Principal != analyst || out.Classification.Via != viaUpdate {
			t.Errorf("classification %+v", out.Classification)
		}
		var dec DecideOutput
		bulk.ok(t, &dec)
		if len(dec.Cards) != 3 {
			t.Errorf("bulk decision answered %d cards", len(dec.Cards))
		}
		// Four-eyes: the requester cannot approve the high-risk isolation a second time.
		again = h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-isolate"}, Decision: card.DecisionApprove})
	})
	var second *reply
	h.at(4*time.Minute, func() {
		mustContain(t, again.result(t), "four-eyes")
		if h.cardStatus("c-block") != card.StatusApplied || h.cardStatus("c-hunt") != card.StatusApplied {
			t.Errorf("block %s, hunt %s", h.cardStatus("c-block"), h.cardStatus("c-hunt"))
		}
		if h.cardStatus("c-isolate") != card.StatusProposed {
			t.Errorf("isolation applied with one approval: %s", h.cardStatus("c-isolate"))
		}
		second = h.send(MessageDecide, DecideInput{Principal: analyst2, CardIDs: []string{"c-isolate"}, Decision: card.DecisionApprove})
	})
	var undo *reply
	h.at(5*time.Minute, func() {
		second.ok(t, nil)
		if h.cardStatus("c-isolate") != card.StatusApplied {
			t.Errorf("isolation after two approvals: %s", h.cardStatus("c-isolate"))
		}
		// Undo now rather than waiting for the time box.
		undo = h.send(MessageUndo, UndoInput{Principal: analyst2, CardID: "c-isolate"})
	})
	h.at(6*time.Minute, func() { undo.ok(t, nil) })
	h.run()
	res := h.wantCompleted()
	if res.Classification != incident.ClassificationTruePositive || res.Applied != 3 {
		t.Errorf("result %+v", res)
	}
	keys := map[string]int{}
	for _, in := range h.applied {
		keys[in.IdempotencyKey]++
	}
	for _, want := range []string{"/c-block/indicator.block", "/c-isolate/device.isolate", "/c-isolate/device.release"} {
		found := false
		for k, n := range keys {
			if strings.HasSuffix(k, want) {
				found = true
				if n != 1 {
					t.Errorf("%s applied %d times", k, n)
				}
			}
		}
		if !found {
			t.Errorf("no action %s applied; applied: %v", want, keys)
		}
	}
	if len(h.applied) != 3 {
		t.Errorf("%d actions applied, want 3 (block, isolate, release): %+v", len(h.applied), h.applied)
	}
	if h.closed == nil || h.closed.ClassifiedBy != analyst || len(h.closed.Cards) != 4 {
		t.Fatalf("close input %+v", h.closed)
	}
	kinds := map[string]int{}
	for _, ev := range h.audits {
		kinds[ev.Kind]++
	}
	if kinds["classification"] != 1 || kinds["decision"] < 5 || kinds["action"] != 3 {
		t.Errorf("audit kinds %v", kinds)
	}
}

// The same decisions as Signals: a refused or malformed one is recorded in the status and ignored.
func TestGuidedResponseThroughSignals(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.env.SignalWorkflow(MessageDecide, map[string]any{"principal": reader, "cardIds": []string{"c-block"}, "decision": "approve"})
		h.env.SignalWorkflow(MessageClassify, "not even an object")
		h.env.SignalWorkflow(MessageDecide, map[string]any{"principal": analyst, "cardIds": []string{"c-block"}, "decision": "approve", "surprise": 1})
	})
	h.at(2*time.Minute, func() {
		st := h.status()
		if len(st.Rejected) != 3 {
			t.Fatalf("want 3 rejected signals recorded, got %+v", st.Rejected)
		}
		if !strings.Contains(st.Rejected[0].Reason, "lacks permission") || !strings.Contains(st.Rejected[1].Reason, "malformed") {
			t.Errorf("rejections %+v", st.Rejected)
		}
		if h.cardStatus("c-block") != card.StatusProposed {
			t.Error("a refused signal changed a card")
		}
		h.env.SignalWorkflow(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationFalsePositive, Determination: incident.DeterminationNotMalicious})
		h.env.SignalWorkflow(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-block", "c-isolate", "c-hunt"}, Decision: card.DecisionReject})
	})
	h.run()
	res := h.wantCompleted()
	if res.Classification != incident.ClassificationFalsePositive || res.Applied != 0 || len(h.applied) != 0 {
		t.Errorf("result %+v, applied %+v", res, h.applied)
	}
}

// Deadlines: an undecided proposal expires; an unclassified incident escalates after its SLA; a
// time-boxed action is undone when its box ends, later when extended.
func TestGuidedResponseDeadlines(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-isolate"}, Decision: card.DecisionApprove})
	})
	h.at(2*time.Minute, func() {
		h.send(MessageDecide, DecideInput{Principal: analyst2, CardIDs: []string{"c-isolate"}, Decision: card.DecisionApprove})
	})
	var badExtend, extend *reply
	h.at(30*time.Minute, func() {
		if h.cardStatus("c-isolate") != card.StatusApplied {
			t.Fatalf("isolation %s", h.cardStatus("c-isolate"))
		}
		badExtend = h.send(MessageExtend, ExtendInput{Principal: analyst, CardID: "c-isolate", By: "forever"})
		extend = h.send(MessageExtend, ExtendInput{Principal: analyst, CardID: "c-isolate", By: "2h"})
	})
	// The incident was created at t0 with high severity: SLA 1h. The test clock starts at t0 too.
	h.at(90*time.Minute, func() {
		mustContain(t, badExtend.result(t), "Go duration")
		extend.ok(t, nil)
		st := h.status()
		if !st.Escalated {
			t.Errorf("not escalated after the 1h SLA: %+v", st)
		}
		if h.cardStatus("c-isolate") != card.StatusApplied {
			t.Errorf("undone before the extended box ended: %s", h.cardStatus("c-isolate"))
		}
	})
	h.at(3*time.Hour+5*time.Minute, func() {
		if h.cardStatus("c-isolate") != card.StatusUndone {
			t.Errorf("isolation not released after the extended box: %s", h.cardStatus("c-isolate"))
		}
	})
	h.at(25*time.Hour, func() {
		// Actions have an approval deadline; investigation steps do not.
		if h.cardStatus("c-block") != card.StatusExpired || h.cardStatus("c-hunt") != card.StatusProposed {
			t.Errorf("block %s, hunt %s", h.cardStatus("c-block"), h.cardStatus("c-hunt"))
		}
		h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationTruePositive, Determination: incident.DeterminationMalware})
		h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-hunt"}, Decision: card.DecisionReject})
	})
	h.env.SetStartTime(t0)
	h.run()
	h.wantCompleted()
	var release *activities.ApplyActionInput
	for i := range h.applied {
		if h.applied[i].Action == card.ActionDeviceRelease {
			release = &h.applied[i]
		}
	}
	if release == nil || release.Principal != systemPrincipal {
		t.Fatalf("no automatic release by the system: %+v", h.applied)
	}
	kinds := map[string]int{}
	for _, ev := range h.audits {
		kinds[ev.Kind]++
	}
	if kinds["escalation"] != 1 || kinds["expiry"] != 1 {
		t.Errorf("audit kinds %v", kinds)
	}
}

// A connector that fails: retried within the policy, then the card fails with the reason; a permanent
// failure is not retried; the incident still closes.
func TestGuidedResponseActionRetriesThenFails(t *testing.T) {
	h := newHarness(t)
	h.applyErr = func(in activities.ApplyActionInput, attempt int) error {
		switch in.CardID {
		case "c-block":
			return temporal.NewApplicationError("defender answered 500", activities.ErrTypeActionRetryable)
		case "c-isolate":
			return temporal.NewNonRetryableApplicationError("machine not found (HTTP 404)", activities.ErrTypeActionPermanent, nil)
		}
		return nil
	}
	h.at(time.Minute, func() {
		h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationTruePositive, Determination: incident.DeterminationMalware})
		h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-isolate", "c-block", "c-hunt"}, Decision: card.DecisionApprove})
	})
	h.at(2*time.Minute, func() {
		h.send(MessageDecide, DecideInput{Principal: analyst2, CardIDs: []string{"c-isolate"}, Decision: card.DecisionApprove})
	})
	h.run()
	res := h.wantCompleted()
	if res.Failed != 2 {
		t.Errorf("result %+v", res)
	}
	var blockKey, isoKey string
	for k := range h.attempts {
		if strings.HasSuffix(k, "/c-block/indicator.block") {
			blockKey = k
		}
		if strings.HasSuffix(k, "/c-isolate/device.isolate") {
			isoKey = k
		}
	}
	if h.attempts[blockKey] != activities.DefaultPolicy().ApplyAttempts {
		t.Errorf("retryable failure tried %d times, want the policy's %d", h.attempts[blockKey], activities.DefaultPolicy().ApplyAttempts)
	}
	if h.attempts[isoKey] != 1 {
		t.Errorf("permanent failure tried %d times", h.attempts[isoKey])
	}
	for _, c := range h.closed.Cards {
		if c.ID == "c-isolate" && (c.Result == nil || !strings.Contains(c.Result.Error, "machine not found")) {
			t.Errorf("failed card lacks the reason: %+v", c.Result)
		}
	}
}

// Feedback is stored through an activity, idempotently keyed, and answered with its ID.
func TestGuidedResponseFeedback(t *testing.T) {
	h := newHarness(t)
	var fb, bad *reply
	h.at(time.Minute, func() {
		fb = h.send(MessageFeedback, FeedbackInput{Principal: reader, CardID: "c-block", Helpful: false, Reason: "noisy"})
		bad = h.send(MessageFeedback, FeedbackInput{Principal: reader, CardID: "c-nope"})
	})
	h.at(2*time.Minute, func() {
		var out FeedbackOutput
		fb.ok(t, &out)
		if out.FeedbackID == "" || !out.Created {
			t.Errorf("feedback output %+v", out)
		}
		mustContain(t, bad.result(t), "no card")
		h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationFalsePositive, Determination: incident.DeterminationNotMalicious})
		h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-block", "c-isolate", "c-hunt"}, Decision: card.DecisionReject})
	})
	h.run()
	h.wantCompleted()
	if len(h.feedback) != 1 || h.feedback[0].Helpful || h.feedback[0].Reason != "noisy" || h.feedback[0].Action != card.ActionIndicatorBlock {
		t.Fatalf("feedback stored %+v", h.feedback)
	}
}

// Timers that stop mattering are cancelled: the scheduler keeps one timer for the next deadline, and
// the access refresh one for its period, however many decisions, feedback and refresh signals come.
// (Before the quiet-timers version each state change and each refresh signal left a timer pending until
// it fired, hours later.)
func TestTimersDoNotPileUp(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	pending, most := map[string]bool{}, 0
	h.env.SetOnTimerScheduledListener(func(id string, _ time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		pending[id] = true
		most = max(most, len(pending))
	})
	done := func(id string) {
		mu.Lock()
		defer mu.Unlock()
		delete(pending, id)
	}
	h.env.SetOnTimerFiredListener(done)
	h.env.SetOnTimerCanceledListener(done)
	for i := range 40 {
		h.at(time.Minute+time.Duration(i)*time.Second, func() {
			h.send(MessageFeedback, FeedbackInput{Principal: reader, CardID: "c-block", Helpful: i%2 == 0, Reason: "noisy"})
			if i%4 == 0 {
				h.env.SignalWorkflow(SignalRefreshAccess, nil)
			}
		})
	}
	h.at(2*time.Minute, func() {
		h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-block"}, Decision: card.DecisionApprove})
	})
	h.at(3*time.Minute, func() {
		h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationFalsePositive, Determination: incident.DeterminationNotMalicious})
		h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-isolate", "c-hunt"}, Decision: card.DecisionReject})
	})
	h.run()
	h.wantCompleted()
	if len(h.feedback) != 40 {
		t.Fatalf("%d feedback stored, want 40", len(h.feedback))
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("at most %d timers pending", most)
	// The scheduler's and the refresh's (a third while one is replaced).
	if most > 3 {
		t.Errorf("up to %d timers pending at once", most)
	}
}

// While the incident closes (here its close activity is retried for about a minute), decisions are
// refused: the report and outcome are written from the state as it was. Feedback is still taken.
func TestDecisionsRefusedWhileClosing(t *testing.T) {
	h := newHarness(t)
	h.closeFailures = 5 // 1+2+4+8+16 s of retries
	h.at(time.Minute, func() {
		h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationFalsePositive, Determination: incident.DeterminationNotMalicious})
		h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-block", "c-isolate", "c-hunt"}, Decision: card.DecisionReject})
	})
	var reclassify, fb *reply
	h.at(time.Minute+10*time.Second, func() {
		if st := h.status(); st.Phase != PhaseClosed {
			t.Fatalf("phase %s 10 s after the last decision, want closing", st.Phase)
		}
		reclassify = h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationTruePositive, Determination: incident.DeterminationMalware})
		fb = h.send(MessageFeedback, FeedbackInput{Principal: reader, CardID: "c-block", Helpful: true})
	})
	h.at(time.Minute+20*time.Second, func() {
		mustContain(t, reclassify.result(t), "closing")
		fb.ok(t, nil)
	})
	h.run()
	h.wantCompleted()
	if h.closed == nil || h.closed.Classification != incident.ClassificationFalsePositive {
		t.Fatalf("closed with %+v, want the classification made before closing", h.closed)
	}
	if len(h.feedback) != 1 {
		t.Errorf("%d feedback stored while closing, want 1", len(h.feedback))
	}
}

// Continue-as-new carries the guided state whole: classification, decided cards, deadlines.
func TestGuidedResponseContinuesAsNewWithState(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationTruePositive, Determination: incident.DeterminationPhishing})
		h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-hunt"}, Decision: card.DecisionApprove})
	})
	h.at(2*time.Minute, func() {
		h.env.SignalWorkflow(SignalIncidentUpdated, IncidentUpdatedSignal{Incident: testIncident(t0.Add(time.Hour), incident.StatusActive)})
	})
	h.env.ExecuteWorkflow(IncidentWorkflow, IncidentInput{Incident: testIncident(t0, incident.StatusActive), MaxUpdatesBeforeContinueAsNew: 1})
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next IncidentInput
	if err := decodeContinueAsNewInput(can, &next); err != nil {
		t.Fatal(err)
	}
	g := next.Guided
	if g == nil || !g.Ready || g.Classification == nil || g.Classification.Principal != analyst || len(g.Cards) != 4 {
		t.Fatalf("guided state not carried: %+v", g)
	}
	for _, c := range g.Cards {
		if c.ID == "c-hunt" && c.Status != card.StatusApplied {
			t.Errorf("decided card lost its state: %+v", c)
		}
		if c.ID == "c-block" && c.ExpiresAt.IsZero() {
			t.Errorf("deadline lost: %+v", c)
		}
	}
	if !next.Incident.LastUpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("newest incident not carried: %v", next.Incident.LastUpdatedAt)
	}
}

// TestActionNoConnectorAppliesCannotBeApproved: a card whose action no connector of the deployment applies
// (GenerateCards marks it Unsupported) shows why it cannot be applied and is refused on approval; it can
// be rejected, and the incident closes.
func TestActionNoConnectorAppliesCannotBeApproved(t *testing.T) {
	h := newHarness(t)
	h.cardsOut[1].Unsupported = "no connector applies indicator.block (graph: not an identity action)"
	var approve, reject *reply
	h.at(time.Minute, func() {
		var block CardView
		for _, c := range h.cards(analyst).Cards {
			if c.ID == "c-block" {
				block = c
			}
		}
		if !block.Available || !strings.Contains(block.CannotApply, "no connector applies indicator.block") {
			t.Errorf("the card as the analyst sees it: available %v, cannotApply %q", block.Available, block.CannotApply)
		}
		for _, c := range h.cards(analyst).Cards {
			if c.ID != "c-block" && c.CannotApply != "" {
				t.Errorf("card %s cannot be applied: %s", c.ID, c.CannotApply)
			}
		}
		approve = h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-block"}, Decision: card.DecisionApprove})
	})
	h.at(2*time.Minute, func() {
		mustContain(t, approve.result(t), "c-block", "no connector applies indicator.block", "reject it instead")
		reject = h.send(MessageDecide, DecideInput{Principal: analyst, CardIDs: []string{"c-block", "c-isolate", "c-hunt"}, Decision: card.DecisionReject})
	})
	h.at(3*time.Minute, func() {
		reject.ok(t, nil)
		h.send(MessageClassify, ClassifyInput{Principal: analyst, Classification: incident.ClassificationFalsePositive, Determination: incident.DeterminationNotMalicious})
	})
	h.run()
	h.wantCompleted()
	if len(h.applied) != 0 {
		t.Errorf("applied %d actions", len(h.applied))
	}
}
