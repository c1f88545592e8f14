package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/testenv"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/workflows"
)

const (
	alice = "alice@contoso.com" // Security operator
	bob   = "bob@contoso.com"   // Security operator: the second pair of eyes
	rita  = "rita@contoso.com"  // Security reader
)

func grant(t *testing.T, env *testenv.Env, tenant string) {
	t.Helper()
	ctx := context.Background()
	for p, roles := range map[string][]string{
		alice: {rbac.RoleSecurityOperator, rbac.RoleEmailOperator},
		bob:   {rbac.RoleSecurityOperator, rbac.RoleEmailOperator},
		rita:  {rbac.RoleSecurityReader},
	} {
		if err := env.Activities.Access.UpsertPrincipal(ctx, rbac.PrincipalInput{TenantID: tenant, ID: p}); err != nil {
			t.Fatal(err)
		}
		for _, role := range roles {
			if err := env.Activities.Access.GrantRole(ctx, tenant, p, role); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func cardsAs(t *testing.T, env *testenv.Env, ref, principal string) workflows.CardsOutput {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, err := runStarter(t, env, "cards", ref, "--principal", principal, "--json")
		if err == nil {
			var cards workflows.CardsOutput
			if err := json.Unmarshal([]byte(out), &cards); err != nil {
				t.Fatal(err)
			}
			if cards.Ready {
				return cards
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cards never ready: %v %s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The guided response end to end on the embedded stack, through the starter's commands: a phishing
// incident is ingested; its cards show, greyed out for a reader; an analyst classifies it; one action is
// approved and applied exactly once by the dry-run connector; a duplicate approval is refused; feedback
// is stored; the rest is decided; the incident closes with its report, its outcome as training data, and
// feedback still accepted after close.
func TestGuidedResponseEndToEnd(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	file := "../incident/testdata/native_phishing.json"
	incs, err := incident.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	inc := incs[0]
	ref := inc.TenantID + "/" + inc.ID
	grant(t, env, inc.TenantID)
	if _, _, err := runStarter(t, env, "incident", file); err != nil {
		t.Fatal(err)
	}

	// A reader sees the cards, the actions greyed out with the missing permission.
	readerView := cardsAs(t, env, ref, rita)
	greyed := 0
	var similar *workflows.CardView
	for i, c := range readerView.Cards {
		if c.Action.Applicable() && !c.Available && strings.Contains(c.UnavailableReason, "lacks permission") {
			greyed++
		}
		if c.Action == card.ActionInvestigateSimilarEmails {
			similar = &readerView.Cards[i]
		}
	}
	if greyed == 0 {
		t.Fatalf("no action greyed out for the reader: %+v", readerView.Cards)
	}
	if similar == nil || !strings.Contains(similar.Query, "EmailEvents") {
		t.Fatalf("phishing incident without a similar-emails query: %+v", similar)
	}
	if readerView.Cards[0].Category != card.CategoryTriage || readerView.Cards[0].Triage == nil || readerView.Cards[0].Triage.ModelVersion == "" {
		t.Fatalf("first card is not the triage suggestion: %+v", readerView.Cards[0])
	}

	// A Temporal UI operator's signal with a principal who may not decide is recorded and ignored.
	wfID := workflows.IncidentWorkflowID(inc.TenantID, inc.ID)
	if err := env.Client.SignalWorkflow(ctx, wfID, "", workflows.MessageDecide,
		workflows.DecideInput{Principal: rita, CardIDs: []string{readerView.Cards[1].ID}, Decision: card.DecisionApprove}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused signal in the status", func() bool {
		out, _, err := runStarter(t, env, "status", ref, "--json")
		var st workflows.StatusOutput
		return err == nil && json.Unmarshal([]byte(out), &st) == nil && len(st.Rejected) == 1 && strings.Contains(st.Rejected[0].Reason, "lacks permission")
	})

	// The reader may not classify; the analyst may.
	out, _, err := runStarter(t, env, "classify", ref, "--principal", rita, "--classification", "truePositive", "--determination", "phishing")
	if err == nil || !strings.Contains(out, "rejected") || !strings.Contains(out, "lacks permission") {
		t.Fatalf("reader classified: %v\n%s", err, out)
	}
	if out, _, err := runStarter(t, env, "classify", ref, "--principal", alice, "--classification", "truePositive", "--determination", "phishing"); err != nil {
		t.Fatalf("classify: %v\n%s", err, out)
	}

	// Approve one action that is not time-boxed and needs one approval; reject every other proposal.
	view := cardsAs(t, env, ref, alice)
	var chosen *workflows.CardView
	var rest []string
	for i, c := range view.Cards {
		if c.Category == card.CategoryTriage || c.Status != card.StatusProposed {
			continue
		}
		if chosen == nil && c.Action.Applicable() && c.TimeBox == 0 && c.ApprovalsRequired == 1 {
			chosen = &view.Cards[i]
			continue
		}
		rest = append(rest, c.ID)
	}
	if chosen == nil {
		t.Fatalf("no single-approval action among %+v", view.Cards)
	}
	out, _, err = runStarter(t, env, "approve", ref, chosen.ID, "--principal", alice, "--json")
	if err != nil {
		t.Fatalf("approve: %v\n%s", err, out)
	}
	key := workflows.IncidentWorkflowID(inc.TenantID, inc.ID) + "/" + chosen.ID + "/" + string(chosen.Action)
	waitFor(t, "the action applied", func() bool {
		n, err := env.Store.CountDryRuns(ctx, key)
		return err == nil && n == 1
	})
	out, _, err = runStarter(t, env, "approve", ref, chosen.ID, "--principal", bob)
	if err == nil || !strings.Contains(out, "rejected") {
		t.Fatalf("a duplicate approval was accepted: %s", out)
	}

	// In the Temporal UI's timeline, the apply and the deadline timers say what they are.
	sawApply, sawDeadline := "", ""
	iter := env.Client.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		var text string
		if p := ev.GetUserMetadata().GetSummary(); p == nil || converter.GetDefaultDataConverter().FromPayload(p, &text) != nil {
			continue
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if strings.HasPrefix(text, "apply "+string(chosen.Action)+": ") && strings.Contains(text, chosen.ID) {
				sawApply = text
			}
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			if strings.Contains(text, "classification SLA") || strings.Contains(text, "approval expiry of ") {
				sawDeadline = text
			}
		}
	}
	if sawApply == "" || sawDeadline == "" {
		t.Errorf("summaries in the history: apply %q, deadline %q", sawApply, sawDeadline)
	}

	out, _, err = runStarter(t, env, "feedback", ref, chosen.ID, "--principal", rita, "--not-helpful", "--reason", "already-done", "--id", "fb-e2e-1")
	if err != nil {
		t.Fatalf("feedback: %v\n%s", err, out)
	}
	if len(rest) > 0 {
		args := append([]string{"reject", ref}, rest...)
		if out, _, err := runStarter(t, env, append(args, "--principal", alice)...); err != nil {
			t.Fatalf("reject the rest: %v\n%s", err, out)
		}
	}

	// Closed: the report, the outcome, the audit trail.
	var report string
	waitFor(t, "the report", func() bool {
		out, _, err := runStarter(t, env, "report", ref)
		report = out
		return err == nil
	})
	for _, want := range []string{"True positive", "Phishing", alice, string(chosen.Action), "applied"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if n, err := env.Store.CountDryRuns(ctx, key); err != nil || n != 1 {
		t.Errorf("the action reached the dry-run target %d times, want exactly once (%v)", n, err)
	}
	outcome, err := env.Store.GetOutcome(ctx, inc.TenantID, inc.ID)
	if err != nil || outcome.Classification != incident.ClassificationTruePositive || len(outcome.AppliedActions) != 1 {
		t.Errorf("outcome %+v, %v", outcome, err)
	}
	audit, err := env.Store.ListAudit(ctx, inc.TenantID, inc.ID)
	if err != nil || len(audit) < 4 {
		t.Errorf("audit trail %d events, %v", len(audit), err)
	}

	// Feedback after close goes through its own workflow.
	out, _, err = runStarter(t, env, "feedback", ref, chosen.ID, "--principal", alice, "--helpful", "--id", "fb-e2e-2")
	if err != nil || !strings.Contains(out, "incident closed") {
		t.Fatalf("feedback after close: %v\n%s", err, out)
	}
	fb, err := env.Store.ListFeedback(ctx, inc.TenantID, inc.ID)
	if err != nil || len(fb) != 2 {
		t.Fatalf("feedback stored: %+v, %v", fb, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
