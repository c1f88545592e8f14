// Package chaos proves the guided response under faults: duplicate triggers, a failing or slow
// connector target, two workers sharing a task queue with one stopped mid-run, a worker process
// killed with SIGKILL again and again while approved actions are being applied, and PostgreSQL or
// Temporal restarted under running incidents.
//
// Every test starts what it needs (an embedded Temporal server, a throwaway PostgreSQL database from
// pgtest, or a PostgreSQL server of its own when it restarts it, workers, local HTTP targets) and stops
// it when it ends; each is bounded in time.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/devstack"
	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/internal/temporalclient"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The analyst who decides in every test: she may classify, apply response actions and email actions.
const analyst = "alice@contoso.com"

// webhookSecret signs the webhook deliveries of the connector tests (at least 16 bytes).
const webhookSecret = "chaos-webhook-secret-0123456789abcdef"

// stack is the embedded Temporal server and a fresh, migrated PostgreSQL database of one test.
type stack struct {
	dev    *devstack.Stack
	client client.Client
	store  *store.Store
	access *rbac.Store
	logger hclog.Logger
	// dataDir holds the embedded server's SQLite file (temporal.db); temporalLogger is the server's.
	dataDir        string
	temporalLogger hclog.Logger
}

func quietLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "chaos", Level: hclog.Error, Output: os.Stderr, IndependentLevels: true})
}

// startStack starts the embedded Temporal server (SQLite in a temporary directory) over a database of
// its own on the pgtest server; everything stops when the test ends.
func startStack(t *testing.T) *stack {
	t.Helper()
	return startStackOn(t, pgtest.NewDB(t))
}

// startStackOn is startStack over the database at databaseURL, which it migrates.
func startStackOn(t *testing.T, databaseURL string) *stack {
	t.Helper()
	logger := quietLogger()
	// The server logs its own retries and, when it stops under running workflows, canceled operations.
	temporalLogger := logger.Named("temporal")
	temporalLogger.SetLevel(hclog.Off)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	dev, err := devstack.Start(ctx, devstack.Options{
		DataDir:        dataDir,
		UIPort:         -1,
		DatabaseURL:    databaseURL,
		Logger:         logger,
		TemporalLogger: temporalLogger,
	})
	if err != nil {
		t.Fatalf("start the stack: %v", err)
	}
	t.Cleanup(func() {
		if err := dev.Stop(context.Background()); err != nil {
			t.Errorf("stop the stack: %v", err)
		}
	})
	c := dial(t, dev.Temporal.FrontendAddress(), logger)
	return &stack{
		dev:            dev,
		client:         c,
		store:          store.New(dev.DB, logger.Named("store")),
		access:         rbac.New(dev.DB, logger.Named("rbac")),
		logger:         logger,
		dataDir:        dataDir,
		temporalLogger: temporalLogger,
	}
}

// dial connects a new client to the embedded server; it is closed when the test ends.
func dial(t *testing.T, address string, logger hclog.Logger) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The SDK logs every failed activity attempt at error level: expected here, so not shown.
	clientLogger := logger.Named("client")
	clientLogger.SetLevel(hclog.Off)
	c, err := temporalclient.Dial(ctx, temporalclient.Config{Address: address, Namespace: "default"}, clientLogger, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newActivities builds the worker's activities as the worker does (built-in playbooks, one approval for
// every risk so one analyst can decide alone); conns, when set, replaces the dry-run connector and
// policy, when set, adjusts the policy handed to new workflows.
func (s *stack) newActivities(t *testing.T, conns *connector.Registry, policy func(*activities.Policy)) *activities.Activities {
	t.Helper()
	acts, err := activities.Build(activities.Config{
		Connectors: connector.Config{Mode: connector.ModeDryRun}, TriageThreshold: 0.7, HighRiskApprovals: 1,
	}, s.dev.DB, s.logger)
	if err != nil {
		t.Fatal(err)
	}
	if conns != nil {
		acts.Connectors = conns
	}
	if policy != nil {
		policy(&acts.Policy)
	}
	return acts
}

// startWorker starts a worker on queue with the product's workflows and acts; the returned stop is safe
// to call more than once and runs at the end of the test anyway.
func startWorker(t *testing.T, c client.Client, queue string, acts *activities.Activities, opts worker.Options) (stop func()) {
	t.Helper()
	w := worker.New(c, queue, opts)
	workflows.Register(w, acts)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(w.Stop) }
	t.Cleanup(stop)
	return stop
}

// grant makes the analyst a security operator and an email operator of tenant.
func grant(t *testing.T, access *rbac.Store, tenant string) {
	t.Helper()
	ctx := context.Background()
	if err := access.UpsertPrincipal(ctx, rbac.PrincipalInput{TenantID: tenant, ID: analyst}); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{rbac.RoleSecurityOperator, rbac.RoleEmailOperator} {
		if err := access.GrantRole(ctx, tenant, analyst, role); err != nil {
			t.Fatal(err)
		}
	}
}

// phishing is the phishing test incident under another incident ID; alert IDs are unique per tenant,
// so they get the incident ID too.
func phishing(t *testing.T, id string) *incident.Incident {
	t.Helper()
	incs, err := incident.ParseFile("../incident/testdata/native_phishing.json")
	if err != nil {
		t.Fatal(err)
	}
	inc := incs[0]
	inc.ID = id
	for i := range inc.Alerts {
		inc.Alerts[i].ID += "-" + id
	}
	if err := inc.Validate(); err != nil {
		t.Fatalf("incident %s: %v", id, err)
	}
	return &inc
}

// waitFor polls cond every 50 ms until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func queryCards(ctx context.Context, c client.Client, workflowID string) (workflows.CardsOutput, error) {
	var out workflows.CardsOutput
	resp, err := c.QueryWorkflow(ctx, workflowID, "", workflows.QueryCards, workflows.CardsInput{Principal: analyst})
	if err == nil {
		err = resp.Get(&out)
	}
	return out, err
}

// readyCards waits until the incident's cards are ready and returns them.
func readyCards(t *testing.T, c client.Client, workflowID string, limit time.Duration) []workflows.CardView {
	t.Helper()
	var cards workflows.CardsOutput
	waitFor(t, limit, "the cards of "+workflowID, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		cards, err = queryCards(ctx, c, workflowID)
		return err == nil && cards.Ready
	})
	return cards.Cards
}

// update sends one of the decision Updates and waits for the workflow's answer.
func update(ctx context.Context, c client.Client, workflowID, name string, in any) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: name, Args: []any{in}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	return h.Get(ctx, nil)
}

func classify(ctx context.Context, c client.Client, workflowID string) error {
	return update(ctx, c, workflowID, workflows.MessageClassify, workflows.ClassifyInput{
		Principal: analyst, Classification: incident.ClassificationTruePositive, Determination: "phishing",
	})
}

func decide(ctx context.Context, c client.Client, workflowID string, decision card.DecisionKind, cardIDs []string) error {
	if len(cardIDs) == 0 {
		return nil
	}
	return update(ctx, c, workflowID, workflows.MessageDecide, workflows.DecideInput{
		Principal: analyst, CardIDs: cardIDs, Decision: decision,
	})
}

// refusedAs reports whether err is the workflow's refusal of a decision of the given kind (Conflict, ...).
func refusedAs(err error, kind string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == kind
}

// split sorts an incident's decidable cards: the applicable, not time-boxed actions that route selects,
// and every other card but triage (to reject, so that the incident can close).
func split(cards []workflows.CardView, route func(card.Action) bool) (apply, rest []workflows.CardView) {
	for _, c := range cards {
		switch {
		case c.Category == card.CategoryTriage:
		case c.Action.Applicable() && c.TimeBox == 0 && route(c.Action):
			apply = append(apply, c)
		default:
			rest = append(rest, c)
		}
	}
	return apply, rest
}

func ids(cards []workflows.CardView) []string {
	out := make([]string, len(cards))
	for i, c := range cards {
		out[i] = c.ID
	}
	return out
}

// idempotencyKey is the key the workflow makes for a card's action (workflows.runAction).
func idempotencyKey(workflowID string, c workflows.CardView) string {
	return workflowID + "/" + c.ID + "/" + string(c.Action)
}

// waitClosed waits for the incident's workflow to complete and returns its result.
func waitClosed(ctx context.Context, c client.Client, workflowID string) (workflows.IncidentResult, error) {
	var res workflows.IncidentResult
	err := c.GetWorkflow(ctx, workflowID, "").Get(ctx, &res)
	return res, err
}

// activityStarts counts, per worker identity, the activities of a workflow's history that started,
// by activity type.
func activityStarts(ctx context.Context, c client.Client, workflowID string) (map[string]map[string]int, error) {
	byIdentity := map[string]map[string]int{}
	scheduled := map[int64]string{}
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			id := a.GetIdentity()
			if byIdentity[id] == nil {
				byIdentity[id] = map[string]int{}
			}
			byIdentity[id][scheduled[a.GetScheduledEventId()]]++
		}
	}
	return byIdentity, nil
}

// countHistory counts the events of a workflow's history by type.
func countHistory(ctx context.Context, c client.Client, workflowID string) (map[enumspb.EventType]int, error) {
	counts := map[enumspb.EventType]int{}
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		counts[ev.GetEventType()]++
	}
	return counts, nil
}

// cardByID finds a card in a cards answer.
func cardByID(cards []workflows.CardView, id string) (workflows.CardView, error) {
	for _, c := range cards {
		if c.ID == id {
			return c, nil
		}
	}
	return workflows.CardView{}, fmt.Errorf("no card %s", id)
}

// workerOptions names a worker: the name is the identity its activities carry in the histories.
func workerOptions(identity string) worker.Options {
	return worker.Options{Identity: identity}
}
