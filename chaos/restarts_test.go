package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/devtemporal"
	"github.com/guided-response/guided/internal/localpg"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/workflows"
)

const (
	// pgIncidents are decided, applied and given feedback while PostgreSQL restarts; the first
	// closingIncidents of them are closing when it stops.
	pgIncidents      = 10
	closingIncidents = 3
	// pgOutage is how long PostgreSQL stays down.
	pgOutage = 5 * time.Second
	// pgOutageAfter is when, after the decisions began, PostgreSQL stops.
	pgOutageAfter = time.Second
	// decisionPace spaces one incident's decisions, and its feedback, so that they span the outage.
	decisionPace = 200 * time.Millisecond

	// inFlightIncidents have actions being applied when Temporal stops; waitingIncidents wait for every
	// decision until it is back.
	inFlightIncidents = 3
	waitingIncidents  = 3
	// slowDelivery is how long the slow target takes to apply an action.
	slowDelivery = 3 * time.Second
	// temporalDowntime is how long Temporal stays down once stopped.
	temporalDowntime = 3 * time.Second
)

// PostgreSQL is stopped while analysts classify, approve and reject cards and give feedback on them, and
// started again on the same port and data directory; nothing is restarted but PostgreSQL. The decisions
// (Temporal Updates whose handlers touch no database) are accepted while it is down; the feedback, which
// the workflow stores before it answers, waits and is stored when it is back; approved actions (a signed
// webhook for the indicator blocks, the dry-run connector for the rest) retry until it is back. Some
// incidents are closing when it stops (writing their report) and are given feedback while they close.
// Then: every feedback is one row (per card and principal), every decision is in the workflow's state,
// every incident closes with one outcome row and one report, the audit trail holds no event twice and
// misses none (the feedback given while an incident closed included), every action is applied once,
// and the worker, never restarted, ran activities on the reconnected database.
func TestPostgresRestartedWhileDecisionsFlow(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()

	pg := startOwnPostgres(ctx, t)
	s := startStackOn(t, pg.url())
	tenant := phishing(t, "x").TenantID
	grant(t, s.access, tenant)

	target := newCountingTarget(0)
	srv := httptest.NewServer(target)
	t.Cleanup(srv.Close)
	hook, err := connector.NewWebhook(connector.WebhookConfig{
		URL: srv.URL + "/hook", Secret: []byte(webhookSecret), Actions: []card.Action{webhookActions},
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	acts := s.newActivities(t, nil, nil)
	acts.Connectors = connector.NewRegistry(hook, connector.NewDryRun(activities.DryRunRecorder{Store: acts.Store}, s.logger))
	const queue, identity = "chaos-pg-restart", "pg-restart-worker"
	startWorker(t, dial(t, s.dev.Temporal.FrontendAddress(), s.logger), queue, acts, workerOptions(identity))

	// The incidents, triggered and prepared before the outage.
	type plan struct {
		workflowID string
		incidentID string
		cards      []workflows.CardView
		approve    []workflows.CardView // applicable actions (applied) and investigation steps (acknowledged)
		last       workflows.CardView   // the time-boxed containment: rejected last, once the feedback is in
	}
	plans := make([]*plan, pgIncidents)
	for i := range plans {
		inc := phishing(t, fmt.Sprintf("chaos-pgr-%02d", i))
		plans[i] = &plan{workflowID: workflows.IncidentWorkflowID(inc.TenantID, inc.ID), incidentID: inc.ID}
		if _, err := workflows.TriggerIncident(ctx, s.client, workflows.TriggerOptions{TaskQueue: queue}, inc); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range plans {
		p.cards = readyCards(t, s.client, p.workflowID, 30*time.Second)
		for _, c := range p.cards {
			switch {
			case c.Category == card.CategoryTriage:
			case c.TimeBox > 0:
				if p.last.ID != "" {
					t.Fatalf("%s has two time-boxed cards", p.workflowID)
				}
				p.last = c
			default:
				p.approve = append(p.approve, c)
			}
		}
		if p.last.ID == "" || len(p.approve) < 8 {
			t.Fatalf("%s: %d cards to approve and time-boxed card %q; the phishing playbook changed", p.workflowID, len(p.approve), p.last.ID)
		}
	}

	// The analysts: per incident, one stream of decisions and one of feedback, at a human pace.
	var (
		mu        sync.Mutex
		sent      []sentUpdate
		senders   sync.WaitGroup
		sendError error
	)
	defer func() { cancel(); senders.Wait() }() // on failure too: nothing left running
	record := func(u sentUpdate, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && sendError == nil {
			sendError = fmt.Errorf("%s %s of %s: %w", u.name, u.cardID, u.workflowID, err)
		}
		sent = append(sent, u)
	}
	send := func(workflowID, name, cardID string, in any) bool {
		u := sentUpdate{workflowID: workflowID, name: name, cardID: cardID, start: time.Now()}
		tries, err := sendUpdate(ctx, s.client, workflowID, fmt.Sprintf("%s/%s/%s", name, workflowID, cardID), name, in, nil)
		u.done, u.tries = time.Now(), tries
		record(u, err)
		return err == nil
	}
	giveFeedback := func(p *plan, cards []workflows.CardView, pace time.Duration) bool {
		for _, c := range cards {
			in := workflows.FeedbackInput{
				FeedbackID: feedbackID(p.incidentID, c.ID), Principal: analyst, CardID: c.ID,
				Helpful: len(c.ID)%2 == 0, Reason: "chaos", Comment: "given while PostgreSQL restarts",
			}
			if !send(p.workflowID, workflows.MessageFeedback, c.ID, in) {
				return false
			}
			time.Sleep(pace)
		}
		return true
	}
	decideAll := func(p *plan, pace time.Duration) bool {
		if !send(p.workflowID, workflows.MessageClassify, "", workflows.ClassifyInput{
			Principal: analyst, Classification: incident.ClassificationTruePositive, Determination: "phishing",
		}) {
			return false
		}
		for _, c := range p.approve {
			time.Sleep(pace)
			if !send(p.workflowID, workflows.MessageDecide, c.ID, workflows.DecideInput{
				Principal: analyst, CardIDs: []string{c.ID}, Decision: card.DecisionApprove,
			}) {
				return false
			}
		}
		return true
	}
	rejectLast := func(p *plan) bool {
		return send(p.workflowID, workflows.MessageDecide, p.last.ID, workflows.DecideInput{
			Principal: analyst, CardIDs: []string{p.last.ID}, Decision: card.DecisionReject,
		})
	}

	// The first incidents are closing when PostgreSQL stops: decided, and given feedback on every card
	// but triage, before; their reports wait behind a lock the test holds until the outage ends it, so
	// that CloseIncident is under way (the workflow's phase is closed) when the outage begins. Their last
	// feedback is given while they close, during the outage.
	closing := plans[:closingIncidents]
	for _, p := range closing {
		if p.cards[0].Category != card.CategoryTriage {
			t.Fatalf("%s: the first card is %s, not triage", p.workflowID, p.cards[0].Category)
		}
		if !decideAll(p, 0) || !giveFeedback(p, p.cards[1:], 0) {
			t.Fatal(sendError)
		}
	}
	lock, err := s.dev.DB.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback() }() // the outage ends it first
	if _, err := lock.ExecContext(ctx, `LOCK TABLE reports IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	for _, p := range closing {
		if !rejectLast(p) {
			t.Fatal(sendError)
		}
	}
	for _, p := range closing {
		waitFor(t, 20*time.Second, p.workflowID+" to be closing", func() bool {
			st, err := queryStatus(ctx, s, p.workflowID)
			if err != nil || st.Phase != workflows.PhaseClosed {
				return false
			}
			desc, err := s.client.DescribeWorkflowExecution(ctx, p.workflowID, "")
			if err != nil {
				return false
			}
			for _, pa := range desc.GetPendingActivities() {
				if pa.GetActivityType().GetName() == "CloseIncident" && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
					return true
				}
			}
			return false
		})
	}
	setupDone := time.Since(began)

	// The other incidents: decisions and feedback while PostgreSQL restarts. The last decision makes an
	// incident closable: it is sent only once every feedback is given, so that none arrives after the
	// incident closed.
	decisionsBegan := time.Now()
	for _, p := range plans[closingIncidents:] {
		feedbackDone := make(chan struct{})
		senders.Add(2)
		go func() {
			defer senders.Done()
			defer close(feedbackDone)
			giveFeedback(p, p.cards, decisionPace)
		}()
		go func() {
			defer senders.Done()
			if !decideAll(p, decisionPace) {
				return
			}
			select {
			case <-feedbackDone:
			case <-ctx.Done():
				return
			}
			rejectLast(p)
		}()
	}

	// The outage, while the streams run.
	time.Sleep(time.Until(decisionsBegan.Add(pgOutageAfter)))
	stopping := time.Now()
	pg.stop(ctx, t)
	down := time.Now()
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	err = s.store.Ping(pctx)
	pcancel()
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("PostgreSQL stopped, but the store's ping says %v, want %v", err, store.ErrUnavailable)
	}
	for _, p := range closing {
		senders.Add(1)
		go func() {
			defer senders.Done()
			giveFeedback(p, p.cards[:1], 0)
		}()
	}
	time.Sleep(time.Until(stopping.Add(pgOutage)))
	pg.start(ctx, t)
	up := time.Now()
	senders.Wait()
	if sendError != nil {
		t.Fatal(sendError)
	}
	decided := time.Since(began)

	results := map[string]workflows.IncidentResult{}
	for _, p := range plans {
		res, err := waitClosed(ctx, s.client, p.workflowID)
		if err != nil {
			t.Fatalf("%s did not close after PostgreSQL came back: %v", p.workflowID, err)
		}
		results[p.workflowID] = res
	}
	closed := time.Since(began)

	// What the analysts saw: decisions answered while PostgreSQL was down, feedback that waited for it.
	acceptedWhileDown := map[string]int{}
	feedbackWaited := map[string]int{}
	retriedSends := 0
	var slowestDecisionWhileDown time.Duration
	for _, u := range sent {
		if u.tries > 1 {
			retriedSends++
		}
		if u.name != workflows.MessageFeedback && u.start.After(down) && u.done.Before(up) {
			acceptedWhileDown[u.workflowID]++
			slowestDecisionWhileDown = max(slowestDecisionWhileDown, u.done.Sub(u.start))
		}
		// In flight when PostgreSQL came back: the feedback waited for its row to be stored.
		if u.name == workflows.MessageFeedback && u.start.Before(up) && u.done.After(up) {
			feedbackWaited[u.workflowID]++
		}
	}
	for i, p := range plans {
		if i < closingIncidents {
			if feedbackWaited[p.workflowID] != 1 {
				t.Errorf("%s: %d feedback given while it closed and PostgreSQL was down, want 1", p.workflowID, feedbackWaited[p.workflowID])
			}
			continue
		}
		// Each stream spans the outage: a decision is sent during it, and a feedback is in flight.
		if acceptedWhileDown[p.workflowID] == 0 {
			t.Errorf("%s: no decision was sent and accepted while PostgreSQL was down", p.workflowID)
		}
		if feedbackWaited[p.workflowID] == 0 {
			t.Errorf("%s: no feedback waited for PostgreSQL to come back", p.workflowID)
		}
	}

	facts := map[string]historyFacts{}
	for _, p := range plans {
		tenantID := tenant // every incident is the phishing test incident's tenant's
		res := results[p.workflowID]
		wantApplied := len(p.approve)
		if res.Applied != wantApplied || res.Failed != 0 || res.Classification != incident.ClassificationTruePositive {
			t.Errorf("%s closed with %d applied, %d failed, classification %s; want %d, 0, %s",
				p.workflowID, res.Applied, res.Failed, res.Classification, wantApplied, incident.ClassificationTruePositive)
		}

		// Every decision, once, in the workflow's state.
		final, err := queryCards(ctx, s.client, p.workflowID)
		if err != nil {
			t.Fatal(err)
		}
		st, err := queryStatus(ctx, s, p.workflowID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Classification == nil || st.Classification.Principal != analyst || st.Classification.Via != "update" {
			t.Errorf("%s: classification %+v, want the analyst's, by Update", p.workflowID, st.Classification)
		}
		for _, c := range final.Cards {
			want, decision := card.StatusApplied, card.DecisionApprove
			if c.ID == p.last.ID {
				want, decision = card.StatusRejected, card.DecisionReject
			}
			if c.Status != want || len(c.Decisions) != 1 || c.Decisions[0].Kind != decision || c.Decisions[0].Principal != analyst {
				t.Errorf("%s card %s (%s): status %s with decisions %+v; want %s after one %s by %s",
					p.workflowID, c.ID, c.Action, c.Status, c.Decisions, want, decision, analyst)
			}
			if c.Action.Applicable() && c.ID != p.last.ID {
				key := idempotencyKey(p.workflowID, c)
				log, err := s.store.GetAction(ctx, key)
				if err != nil {
					t.Errorf("%s: action log: %v", key, err)
					continue
				}
				wantID := key // the dry-run connector's id
				if c.Action == webhookActions {
					wantID = target.appliedID(key)
				}
				if log.Status != store.ActionApplied || wantID == "" || log.ExternalID != wantID || c.Result == nil || c.Result.ExternalID != wantID {
					t.Errorf("%s: action log %s with id %q, card result %+v; want applied as %q", key, log.Status, log.ExternalID, c.Result, wantID)
				}
				if c.Action != webhookActions {
					if n, err := s.store.CountDryRuns(ctx, key); err != nil || n != 1 {
						t.Errorf("%s: %d dry-run records (%v), want 1", key, n, err)
					}
				}
			}
		}

		// One feedback row per card and principal, under the feedback's ID.
		var rows []struct {
			CardID     string `db:"card_id"`
			Principal  string `db:"principal"`
			N          int    `db:"n"`
			FeedbackID string `db:"feedback_id"`
		}
		if err := s.dev.DB.SelectContext(ctx, &rows, `
			SELECT card_id, principal, count(*) AS n, min(feedback_id) AS feedback_id FROM feedback
			WHERE tenant_id = $1 AND incident_id = $2 GROUP BY card_id, principal`, tenantID, p.incidentID); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, r := range rows {
			got[r.CardID] = true
			if r.N != 1 || r.Principal != analyst || r.FeedbackID != feedbackID(p.incidentID, r.CardID) {
				t.Errorf("%s card %s: %d feedback rows by %s (id %s), want 1 by %s", p.workflowID, r.CardID, r.N, r.Principal, r.FeedbackID, analyst)
			}
		}
		for _, c := range p.cards {
			if !got[c.ID] {
				t.Errorf("%s card %s: the feedback given is not stored", p.workflowID, c.ID)
			}
		}

		// One outcome, one report (of the run that closed).
		desc, err := s.client.DescribeWorkflowExecution(ctx, p.workflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		var outcomes, reports, reportsOfRun int
		if err := s.dev.DB.GetContext(ctx, &outcomes, `SELECT count(*) FROM outcomes WHERE tenant_id = $1 AND incident_id = $2`, tenantID, p.incidentID); err != nil {
			t.Fatal(err)
		}
		if err := s.dev.DB.GetContext(ctx, &reports, `SELECT count(*) FROM reports WHERE tenant_id = $1 AND incident_id = $2`, tenantID, p.incidentID); err != nil {
			t.Fatal(err)
		}
		if err := s.dev.DB.GetContext(ctx, &reportsOfRun, `SELECT count(*) FROM reports WHERE tenant_id = $1 AND incident_id = $2 AND run_id = $3`, tenantID, p.incidentID, runID); err != nil {
			t.Fatal(err)
		}
		if outcomes != 1 || reports != 1 || reportsOfRun != 1 {
			t.Errorf("%s: %d outcome rows and %d reports (%d of run %s), want one each", p.workflowID, outcomes, reports, reportsOfRun, runID)
		}
		if o, err := s.store.GetOutcome(ctx, tenantID, p.incidentID); err != nil || len(o.AppliedActions) != countApplicable(p.approve) || o.Classification != incident.ClassificationTruePositive {
			t.Errorf("%s: outcome %+v (%v), want %d applied actions and %s", p.workflowID, o, err, countApplicable(p.approve), incident.ClassificationTruePositive)
		}

		// The audit trail: nothing twice, nothing missing.
		audit, err := s.store.ListAudit(ctx, tenantID, p.incidentID)
		if err != nil {
			t.Fatal(err)
		}
		for _, problem := range auditProblems(audit, p.cards, p.incidentID, countApplicable(p.approve)) {
			t.Errorf("%s audit: %s", p.workflowID, problem)
		}

		f, err := scanHistory(ctx, s.client, p.workflowID, up)
		if err != nil {
			t.Fatal(err)
		}
		facts[p.workflowID] = f
	}

	// Exactly once at the webhook's target.
	seen := target.snapshot()
	for _, problem := range seen.problems {
		t.Error("target:", problem)
	}
	webhookKeys := 0
	for _, p := range plans {
		for _, c := range p.approve {
			if c.Action == webhookActions {
				webhookKeys++
				if seen.applied[idempotencyKey(p.workflowID, c)] == "" {
					t.Errorf("%s never reached the target", idempotencyKey(p.workflowID, c))
				}
			}
		}
	}
	if len(seen.applied) != webhookKeys {
		t.Errorf("the target applied %d keys, %d were approved", len(seen.applied), webhookKeys)
	}

	// The worker, started once, did the work after the restart on the database pool it had.
	identities := map[string]bool{}
	retried, maxAttempt := map[string]int{}, map[string]int{}
	completedAfter := 0
	for _, f := range facts {
		for id := range f.identities {
			identities[id] = true
		}
		for typ, n := range f.retried {
			retried[typ] += n
			maxAttempt[typ] = max(maxAttempt[typ], f.maxAttempt[typ])
		}
		completedAfter += f.activitiesCompletedAfter[identity]
	}
	if len(identities) != 1 || !identities[identity] {
		t.Errorf("tasks completed by %v, want only %s (the one worker, never restarted)", slices.Sorted(maps.Keys(identities)), identity)
	}
	if completedAfter == 0 {
		t.Errorf("%s completed no activity after PostgreSQL came back", identity)
	}
	if retried["RecordFeedback"] == 0 {
		t.Errorf("no RecordFeedback activity was retried: the outage was not felt (activities retried by type: %v)", retried)
	}
	raw := 0
	for _, n := range seen.deliveries {
		raw += n
	}
	t.Logf("PostgreSQL down for %s (stopping took %s); decisions accepted while it was down: %d (slowest %s); feedback that waited for it: %d; Updates sent again under the same ID: %d",
		up.Sub(down).Round(10*time.Millisecond), down.Sub(stopping).Round(10*time.Millisecond), sumValues(acceptedWhileDown),
		slowestDecisionWhileDown.Round(time.Millisecond), sumValues(feedbackWaited), retriedSends)
	t.Logf("activities retried, by type: %v, the most attempts one took: %v (ApplyAction may take %d); %s completed %d activities after the restart; %d webhook keys applied, %d deliveries",
		retried, maxAttempt, activities.DefaultPolicy().ApplyAttempts, identity, completedAfter, len(seen.applied), raw)
	t.Logf("setup %s, decisions done at %s, all %d incidents closed at %s", setupDone.Round(100*time.Millisecond),
		decided.Round(100*time.Millisecond), pgIncidents, closed.Round(100*time.Millisecond))
}

// Temporal is stopped while incidents are in flight, some waiting for every decision and some with
// approved actions being applied at a slow webhook target, and started again on the same SQLite file
// and frontend port. The worker and the clients are those of before: nothing is restarted but Temporal.
// The deliveries in flight finish while it is down; once it is back every pending decision is accepted,
// every approved action reaches the target exactly once (one delivery per idempotency key), and every
// incident closes with its actions applied.
func TestTemporalRestartedWithIncidentsInFlight(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	s := startStack(t)
	tenant := phishing(t, "x").TenantID
	grant(t, s.access, tenant)

	target := newCountingTarget(slowDelivery)
	srv := httptest.NewServer(target)
	t.Cleanup(srv.Close)
	hook, err := connector.NewWebhook(connector.WebhookConfig{
		URL: srv.URL + "/hook", Secret: []byte(webhookSecret), Actions: []card.Action{webhookActions},
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	const queue, identity = "chaos-temporal-restart", "temporal-restart-worker"
	workerClient := dial(t, s.dev.Temporal.FrontendAddress(), s.logger)
	startWorker(t, workerClient, queue, s.newActivities(t, connector.NewRegistry(hook), nil), workerOptions(identity))

	type plan struct {
		workflowID string
		apply      []workflows.CardView // the webhook's cards: approved
		rest       []workflows.CardView // every other card but triage: rejected
		inFlight   bool
	}
	plans := make([]*plan, inFlightIncidents+waitingIncidents)
	for i := range plans {
		inc := phishing(t, fmt.Sprintf("chaos-tr-%02d", i))
		plans[i] = &plan{workflowID: workflows.IncidentWorkflowID(inc.TenantID, inc.ID), inFlight: i < inFlightIncidents}
		if _, err := workflows.TriggerIncident(ctx, s.client, workflows.TriggerOptions{TaskQueue: queue}, inc); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range plans {
		p.apply, p.rest = split(readyCards(t, s.client, p.workflowID, 30*time.Second), func(a card.Action) bool { return a == webhookActions })
		if len(p.apply) < 2 {
			t.Fatalf("%s has %d %s cards, want at least 2", p.workflowID, len(p.apply), webhookActions)
		}
	}
	var (
		sendMu                  sync.Mutex
		restarted               bool
		firstAnswerAfterRestart time.Time
		retriedSends            int
	)
	send := func(p *plan, name, cardID string, in any) error {
		tries, err := sendUpdate(ctx, s.client, p.workflowID, fmt.Sprintf("%s/%s/%s", name, p.workflowID, cardID), name, in, nil)
		sendMu.Lock()
		if tries > 1 {
			retriedSends++
		}
		if err == nil && restarted && firstAnswerAfterRestart.IsZero() {
			firstAnswerAfterRestart = time.Now()
		}
		sendMu.Unlock()
		if err != nil {
			return fmt.Errorf("%s %s of %s: %w", name, cardID, p.workflowID, err)
		}
		return nil
	}
	classifyAndReject := func(p *plan) error {
		if err := send(p, workflows.MessageClassify, "", workflows.ClassifyInput{
			Principal: analyst, Classification: incident.ClassificationTruePositive, Determination: "phishing",
		}); err != nil {
			return err
		}
		return send(p, workflows.MessageDecide, "rest", workflows.DecideInput{Principal: analyst, CardIDs: ids(p.rest), Decision: card.DecisionReject})
	}
	approve := func(p *plan, c workflows.CardView) error {
		return send(p, workflows.MessageDecide, c.ID, workflows.DecideInput{Principal: analyst, CardIDs: []string{c.ID}, Decision: card.DecisionApprove})
	}

	// Before the restart: the in-flight incidents are classified, and all their webhook actions but one
	// approved; the others wait.
	for _, p := range plans {
		if !p.inFlight {
			continue
		}
		if err := classifyAndReject(p); err != nil {
			t.Fatal(err)
		}
		for _, c := range p.apply[:len(p.apply)-1] {
			if err := approve(p, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	approvedBefore := 0
	for _, p := range plans {
		if p.inFlight {
			approvedBefore += len(p.apply) - 1
		}
	}
	waitFor(t, 20*time.Second, "every approved delivery to be at the target", func() bool { return target.started() == approvedBefore })
	setupDone := time.Since(began)

	// The restart, with every approved delivery in flight at the target.
	inFlightAtStop := target.inflightKeys()
	if len(inFlightAtStop) == 0 {
		t.Fatal("no delivery in flight when Temporal stops")
	}
	frontend := s.dev.Temporal.FrontendAddress()
	_, portText, err := net.SplitHostPort(frontend)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	stopping := time.Now()
	err = s.dev.Temporal.Stop()
	s.dev.Temporal = nil
	if err != nil {
		t.Fatalf("stop temporal: %v", err)
	}
	down := time.Now()
	hctx, hcancel := context.WithTimeout(ctx, time.Second)
	_, err = s.client.CheckHealth(hctx, &client.CheckHealthRequest{})
	hcancel()
	if err == nil {
		t.Fatal("Temporal stopped, but its frontend still answers")
	}
	time.Sleep(temporalDowntime)
	restarting := time.Now()
	s.dev.Temporal, err = devtemporal.Start(devtemporal.Options{
		DatabaseFile: filepath.Join(s.dataDir, "temporal.db"), FrontendPort: port, UIPort: -1, Namespace: "default",
		SearchAttributes: workflows.SearchAttributes(), Logger: s.temporalLogger,
	})
	if err != nil {
		t.Fatalf("start temporal again on the same file and port: %v", err)
	}
	up := time.Now()
	restarted = true
	if got := s.dev.Temporal.FrontendAddress(); got != frontend {
		t.Fatalf("temporal came back on %s, was on %s", got, frontend)
	}
	finishedWhileDown := target.finishedBetween(stopping, up)

	// After the restart, through the clients of before: every pending decision.
	var decisions sync.WaitGroup
	decisionErrs := make(chan error, len(plans))
	for _, p := range plans {
		decisions.Add(1)
		go func() {
			defer decisions.Done()
			if !p.inFlight {
				if err := classifyAndReject(p); err != nil {
					decisionErrs <- err
					return
				}
				for _, c := range p.apply[:len(p.apply)-1] {
					if err := approve(p, c); err != nil {
						decisionErrs <- err
						return
					}
				}
			}
			if err := approve(p, p.apply[len(p.apply)-1]); err != nil {
				decisionErrs <- err
			}
		}()
	}
	decisions.Wait()
	close(decisionErrs)
	for err := range decisionErrs {
		t.Fatalf("a decision after the restart: %v", err)
	}
	decided := time.Since(began)

	results := map[string]workflows.IncidentResult{}
	for _, p := range plans {
		res, err := waitClosed(ctx, s.client, p.workflowID)
		if err != nil {
			t.Fatalf("%s did not close after the restart: %v", p.workflowID, err)
		}
		results[p.workflowID] = res
	}
	closed := time.Since(began)

	// Exactly once at the target, one delivery per key, and the product's records agree with it.
	seen := target.snapshot()
	for _, problem := range seen.problems {
		t.Error("target:", problem)
	}
	approved := map[string]bool{}
	for _, p := range plans {
		res := results[p.workflowID]
		if res.Applied != len(p.apply) || res.Failed != 0 {
			t.Errorf("%s closed with %d applied and %d failed actions, want %d and 0", p.workflowID, res.Applied, res.Failed, len(p.apply))
		}
		final, err := queryCards(ctx, s.client, p.workflowID)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range p.apply {
			key := idempotencyKey(p.workflowID, want)
			approved[key] = true
			c, err := cardByID(final.Cards, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			log, err := s.store.GetAction(ctx, key)
			if err != nil {
				t.Errorf("%s: action log: %v", key, err)
				continue
			}
			if seen.deliveries[key] != 1 || seen.applied[key] == "" {
				t.Errorf("%s: %d deliveries at the target, want exactly 1", key, seen.deliveries[key])
			}
			if c.Status != card.StatusApplied || c.Result == nil || c.Result.ExternalID != seen.applied[key] ||
				log.Status != store.ActionApplied || log.ExternalID != seen.applied[key] || log.Attempts != 1 {
				t.Errorf("%s: card %s with result %+v, action log %s (%q, %d attempts); the target applied it as %q",
					key, c.Status, c.Result, log.Status, log.ExternalID, log.Attempts, seen.applied[key])
			}
		}
	}
	for key := range seen.applied {
		if !approved[key] {
			t.Errorf("the target applied %s, which nobody approved", key)
		}
	}

	// The worker of before, never restarted, polled the new server: it completed workflow and activity
	// tasks after the restart, and nobody else did.
	identities := map[string]bool{}
	retried := map[string]int{}
	workflowTasksAfter, activitiesAfter := 0, 0
	for _, p := range plans {
		f, err := scanHistory(ctx, s.client, p.workflowID, up)
		if err != nil {
			t.Fatal(err)
		}
		for id := range f.identities {
			identities[id] = true
		}
		for typ, n := range f.retried {
			retried[typ] += n
		}
		workflowTasksAfter += f.workflowTasksCompletedAfter[identity]
		activitiesAfter += f.activitiesCompletedAfter[identity]
		desc, err := s.client.DescribeWorkflowExecution(ctx, p.workflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			t.Errorf("%s: status %s", p.workflowID, st)
		}
	}
	if len(identities) != 1 || !identities[identity] {
		t.Errorf("tasks completed by %v, want only %s", slices.Sorted(maps.Keys(identities)), identity)
	}
	if workflowTasksAfter == 0 || activitiesAfter == 0 {
		t.Errorf("after the restart %s completed %d workflow tasks and %d activities, want some of each", identity, workflowTasksAfter, activitiesAfter)
	}
	// An action whose delivery finished while the server was away is reported by the worker once it is
	// back: its one attempt completes (no retry after the heartbeat timeout, no second delivery).
	if retried["ApplyAction"] > 0 {
		t.Errorf("%d ApplyAction activities took more than one attempt (activities retried, by type: %v)", retried["ApplyAction"], retried)
	}
	raw := 0
	for _, n := range seen.deliveries {
		raw += n
	}
	t.Logf("Temporal stopped in %s with %d deliveries in flight, started again in %s (away %s in all), back on %s; %d deliveries finished while it was away",
		down.Sub(stopping).Round(10*time.Millisecond), len(inFlightAtStop), up.Sub(restarting).Round(10*time.Millisecond),
		up.Sub(stopping).Round(10*time.Millisecond), frontend, finishedWhileDown)
	t.Logf("first decision answered %s after the restart; %d decisions sent again under the same Update ID; the worker of before then completed %d workflow tasks and %d activities; activities retried, by type: %v; %d keys applied with %d deliveries",
		firstAnswerAfterRestart.Sub(up).Round(10*time.Millisecond), retriedSends, workflowTasksAfter, activitiesAfter, retried, len(seen.applied), raw)
	t.Logf("setup %s, decisions done at %s, all %d incidents closed at %s", setupDone.Round(100*time.Millisecond),
		decided.Round(100*time.Millisecond), len(plans), closed.Round(100*time.Millisecond))
	if finishedWhileDown == 0 {
		t.Errorf("no delivery finished while Temporal was down: the restart did not hit an action in flight")
	}
}

// ownPostgres is a PostgreSQL server of one test, in a directory of its own that the postgres user can
// reach, stopped and started again on the same port and data directory.
type ownPostgres struct {
	opts localpg.Options
	srv  *localpg.Server
}

func startOwnPostgres(ctx context.Context, t *testing.T) *ownPostgres {
	t.Helper()
	// Not t.TempDir(): its parent is closed (0700) to the postgres user, which runs the server as we are root.
	dir, err := os.MkdirTemp("", "chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	p := &ownPostgres{opts: localpg.Options{
		DataDir:  filepath.Join(dir, "data"),
		BinDir:   os.Getenv("PG_BIN"),
		Database: "guided",
		Settings: map[string]string{"fsync": "off"}, // a stop is a clean shutdown: nothing is lost
	}}
	t.Cleanup(func() {
		if p.srv != nil {
			if err := p.srv.Stop(context.Background()); err != nil {
				t.Errorf("stop postgres: %v", err)
			}
		}
		_ = os.RemoveAll(dir)
	})
	p.start(ctx, t)
	p.opts.Port = p.srv.Port() // every later start: the same port
	return p
}

func (p *ownPostgres) url() string { return p.srv.URL() }

func (p *ownPostgres) start(ctx context.Context, t *testing.T) {
	t.Helper()
	srv, err := localpg.Start(ctx, p.opts)
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	p.srv = srv
}

func (p *ownPostgres) stop(ctx context.Context, t *testing.T) {
	t.Helper()
	srv := p.srv
	p.srv = nil
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("stop postgres: %v", err)
	}
}

// sentUpdate is one decision or feedback as the analyst sent it.
type sentUpdate struct {
	workflowID, name, cardID string
	start, done              time.Time
	tries                    int
}

// sendUpdate sends an Update under a fixed ID and waits for the workflow's answer into out (nil: none
// wanted). Temporal runs an Update ID once per run, so when a try ends without the answer (the server
// restarts, the answer takes longer than a try) the same Update is sent again: a retry never makes a
// second decision. A refusal, or a workflow that is gone, ends it at once. It returns how many tries
// it took.
func sendUpdate(ctx context.Context, c client.Client, workflowID, updateID, name string, in, out any) (int, error) {
	for tries := 1; ; tries++ {
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		h, err := c.UpdateWorkflow(tctx, client.UpdateWorkflowOptions{
			UpdateID: updateID, WorkflowID: workflowID, UpdateName: name, Args: []any{in},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(tctx, out)
		}
		cancel()
		var appErr *temporal.ApplicationError
		var notFound *serviceerror.NotFound
		if err == nil || errors.As(err, &appErr) || errors.As(err, &notFound) || ctx.Err() != nil {
			return tries, err
		}
		select {
		case <-ctx.Done():
			return tries, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// feedbackID is the ID the analyst's client gives the feedback on a card, as the starter does: a retry
// of the same feedback is the same row.
func feedbackID(incidentID, cardID string) string { return "fb-" + incidentID + "-" + cardID }

func countApplicable(cards []workflows.CardView) int {
	n := 0
	for _, c := range cards {
		if c.Action.Applicable() {
			n++
		}
	}
	return n
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// auditProblems checks an incident's audit trail after every card was decided once and given feedback
// once: no event twice (same kind, card and detail), and every event there: the classification, one
// decision per card, one action per applied action, one feedback per card.
func auditProblems(events []store.AuditEvent, cards []workflows.CardView, incidentID string, applied int) []string {
	var problems []string
	seen := map[string]int{}
	kinds := map[store.AuditKind]int{}
	decisions := map[string]int{}
	actions := map[string]int{}
	feedback := map[string]int{}
	for _, e := range events {
		seen[fmt.Sprintf("%s|%s|%s", e.Kind, e.CardID, e.Detail)]++
		kinds[e.Kind]++
		switch e.Kind {
		case store.AuditDecision:
			decisions[e.CardID]++
		case store.AuditAction:
			actions[e.CardID]++
		case store.AuditFeedback:
			var d struct {
				FeedbackID string `json:"feedbackId"`
			}
			if err := json.Unmarshal(e.Detail, &d); err != nil {
				problems = append(problems, fmt.Sprintf("feedback event %s: %v", e.EventKey, err))
			}
			feedback[d.FeedbackID]++
		}
	}
	for k, n := range seen {
		if n > 1 {
			problems = append(problems, fmt.Sprintf("%d events %s", n, k))
		}
	}
	if kinds[store.AuditClassification] != 1 {
		problems = append(problems, fmt.Sprintf("%d classification events, want 1", kinds[store.AuditClassification]))
	}
	for _, c := range cards {
		if c.Category != card.CategoryTriage && decisions[c.ID] != 1 {
			problems = append(problems, fmt.Sprintf("card %s: %d decision events, want 1", c.ID, decisions[c.ID]))
		}
		if n := feedback[feedbackID(incidentID, c.ID)]; n != 1 {
			problems = append(problems, fmt.Sprintf("card %s: %d feedback events, want 1", c.ID, n))
		}
	}
	if len(actions) != applied || kinds[store.AuditAction] != applied {
		problems = append(problems, fmt.Sprintf("%d action events on %d cards, want %d on %d", kinds[store.AuditAction], len(actions), applied, applied))
	}
	sort.Strings(problems)
	return problems
}

// historyFacts are what a workflow's history says about who did its work.
type historyFacts struct {
	// identities completed workflow or activity tasks.
	identities map[string]bool
	// Tasks completed after a given time, by identity.
	workflowTasksCompletedAfter map[string]int
	activitiesCompletedAfter    map[string]int
	// retried counts, by activity type, the activities that took more than one attempt; maxAttempt is
	// the most attempts one took.
	retried    map[string]int
	maxAttempt map[string]int
}

func scanHistory(ctx context.Context, c client.Client, workflowID string, after time.Time) (historyFacts, error) {
	f := historyFacts{identities: map[string]bool{}, workflowTasksCompletedAfter: map[string]int{},
		activitiesCompletedAfter: map[string]int{}, retried: map[string]int{}, maxAttempt: map[string]int{}}
	scheduled := map[int64]string{}
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return f, err
		}
		at := ev.GetEventTime().AsTime()
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			typ := scheduled[a.GetScheduledEventId()]
			f.maxAttempt[typ] = max(f.maxAttempt[typ], int(a.GetAttempt()))
			if a.GetAttempt() > 1 {
				f.retried[typ]++
			}
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
			f.identities[a.GetIdentity()] = true
			if at.After(after) {
				f.activitiesCompletedAfter[a.GetIdentity()]++
			}
		}
		if a := ev.GetWorkflowTaskCompletedEventAttributes(); a != nil {
			f.identities[a.GetIdentity()] = true
			if at.After(after) {
				f.workflowTasksCompletedAfter[a.GetIdentity()]++
			}
		}
	}
	return f, nil
}

// countingTarget is the webhook receiver of the restart tests. It verifies each delivery, applies each
// idempotency key once (a later delivery of the key is answered 409 with the same id, as a real tool
// answers a replay), takes delay to apply, and counts the deliveries of each key.
type countingTarget struct {
	delay time.Duration

	mu         sync.Mutex
	deliveries map[string]int
	applied    map[string]string
	inflight   map[string]int
	finished   []time.Time
	problems   []string
}

func newCountingTarget(delay time.Duration) *countingTarget {
	return &countingTarget{delay: delay, deliveries: map[string]int{}, applied: map[string]string{}, inflight: map[string]int{}}
}

func (x *countingTarget) problem(format string, args ...any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.problems = append(x.problems, fmt.Sprintf(format, args...))
}

func (x *countingTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/hook" {
		x.problem("request to %s", r.URL.Path)
		http.Error(w, "not here", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		x.problem("read body: %v", err)
		return
	}
	if err := connector.Verify([]byte(webhookSecret), r.Header.Get(connector.HeaderTimestamp), body,
		r.Header.Get(connector.HeaderSignature), time.Now(), 5*time.Minute); err != nil {
		x.problem("delivery with a bad signature: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p connector.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		x.problem("undecodable payload: %v", err)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	key := r.Header.Get(connector.HeaderIdempotencyKey)
	if key == "" || key != p.IdempotencyKey {
		x.problem("Idempotency-Key header %q, payload key %q", key, p.IdempotencyKey)
	}
	x.mu.Lock()
	x.deliveries[key]++
	x.inflight[key]++
	id, replay := x.applied[key]
	if !replay {
		id = fmt.Sprintf("ind-%d", len(x.applied)+1)
		x.applied[key] = id
	}
	x.mu.Unlock()

	time.Sleep(x.delay) // applying, whether or not the sender is still there

	x.mu.Lock()
	x.inflight[key]--
	if x.inflight[key] == 0 {
		delete(x.inflight, key)
	}
	x.finished = append(x.finished, time.Now())
	x.mu.Unlock()
	status := http.StatusOK
	if replay {
		status = http.StatusConflict
	}
	writeJSON(w, status, map[string]string{"id": id})
}

// started counts the keys whose first delivery has reached the target.
func (x *countingTarget) started() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.applied)
}

func (x *countingTarget) inflightKeys() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Sorted(maps.Keys(x.inflight))
}

// finishedBetween counts the deliveries that finished between from and to.
func (x *countingTarget) finishedBetween(from, to time.Time) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, at := range x.finished {
		if at.After(from) && at.Before(to) {
			n++
		}
	}
	return n
}

func (x *countingTarget) appliedID(key string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.applied[key]
}

// snapshot copies what the target recorded, for the assertions.
func (x *countingTarget) snapshot() *countingTarget {
	x.mu.Lock()
	defer x.mu.Unlock()
	return &countingTarget{deliveries: maps.Clone(x.deliveries), applied: maps.Clone(x.applied), problems: slices.Clone(x.problems)}
}
