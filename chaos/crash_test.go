package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	activitypb "go.temporal.io/api/activity/v1"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/internal/devtemporal"
	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/workflows"
)

const (
	// crashRounds is how many times the worker is killed while a delivery is in flight at the target.
	crashRounds = 30
	// maxCrashRounds bounds the rounds, counting those whose kill found no delivery in flight.
	maxCrashRounds = 45
	// crashIncidents share the rounds; each is approved again only after many rounds, when the
	// worker its workflow was sticky to has been dead for longer than the server's sticky window.
	crashIncidents = 20
	// deliveryTime is how long the target takes to apply an action.
	deliveryTime = 300 * time.Millisecond
	// answerGrace counts a delivery in flight for this long after the answer (see crashTarget).
	answerGrace = 100 * time.Millisecond
	// orphanHeartbeat is the heartbeat timeout the test gives activities orphaned by a kill (see sweep).
	orphanHeartbeat = 3 * time.Second
	// maxKillsPerKey keeps a key within the policy's attempts: a delivery of a key already hit this many
	// times is not killed again on purpose.
	maxKillsPerKey = 2
	// webhookActions are routed to the webhook; the phishing incident has three such cards.
	webhookActions = card.ActionIndicatorBlock
)

// The worker process, the real binary, is killed with SIGKILL again and again while approved actions
// are being applied through the signed webhook, and restarted at once. Every approved action is applied
// at the target exactly once per idempotency key (the target dedupes on the key, as a real tool does, and
// the raw deliveries are counted and reported), none is delivered again after the action log recorded it
// applied, every card ends applied with the target's id, and every incident closes; nothing is stuck.
//
// A SIGKILLed worker cannot tell Temporal that its activities died: the server notices through the
// activity's heartbeat timeout, which the workflow sets to 2 minutes (and an attempt heartbeats every 20
// seconds). To keep the test short, after each kill, while no worker runs, the test lowers the heartbeat
// timeout of the activities the dead worker had started (Temporal's UpdateActivityOptions) to 3 seconds:
// the retry comes as it would after 2 minutes, only sooner. Nothing else about the product is changed.
func TestWorkerKilledWhileApplyingActions(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	logger := quietLogger()

	bin := buildWorker(ctx, t)
	// The embedded server's warnings go to a file, shown when the test fails.
	serverLogPath := filepath.Join(t.TempDir(), "temporal.log")
	serverLog, err := os.Create(serverLogPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serverLog.Close() })
	serverLogger := hclog.New(&hclog.LoggerOptions{Name: "temporal", Level: hclog.Warn, Output: serverLog})
	temporal, err := devtemporal.Start(devtemporal.Options{
		UIPort: -1, Namespace: "default", SearchAttributes: workflows.SearchAttributes(), Logger: serverLogger,
	})
	if err != nil {
		t.Fatalf("start temporal: %v", err)
	}
	t.Cleanup(func() { _ = temporal.Stop() })
	dbURL := pgtest.NewDB(t)
	if out, err := runWorkerCommand(ctx, bin, []string{"DATABASE_URL=" + dbURL}, "migrate"); err != nil {
		t.Fatalf("worker migrate: %v\n%s", err, out)
	}
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	st := store.New(db, logger)
	tenant := phishing(t, "x").TenantID
	grant(t, rbac.New(db, logger), tenant)
	c := dial(t, temporal.FrontendAddress(), logger)

	target := newCrashTarget(st)
	srv := httptest.NewServer(target)
	t.Cleanup(srv.Close)
	const queue = "chaos-kill"
	proc := &workerProcess{bin: bin, logPath: filepath.Join(t.TempDir(), "worker.log"), env: []string{
		"DATABASE_URL=" + dbURL,
		"TEMPORAL_ADDRESS=" + temporal.FrontendAddress(),
		"TEMPORAL_NAMESPACE=default",
		"GUIDED_TASK_QUEUE=" + queue,
		"GUIDED_CONNECTORS=live",
		// Live mode wants an app registration; the Defender and Graph connectors point at the target,
		// which refuses them: no approved action is routed to them.
		"GUIDED_AZURE_TENANT_ID=00000000-0000-0000-0000-000000000000",
		"GUIDED_AZURE_CLIENT_ID=chaos",
		"GUIDED_AZURE_CLIENT_SECRET=chaos-not-a-secret",
		"GUIDED_TOKEN_URL=" + srv.URL + "/token",
		"GUIDED_DEFENDER_URL=" + srv.URL + "/defender",
		"GUIDED_GRAPH_URL=" + srv.URL + "/graph",
		"GUIDED_WEBHOOK_URL=" + srv.URL + "/hook",
		"GUIDED_WEBHOOK_SECRET=" + webhookSecret,
		"GUIDED_WEBHOOK_ACTIONS=" + string(webhookActions),
		"GUIDED_HIGH_RISK_APPROVALS=1",
		"LOG_LEVEL=info",
	}}
	t.Cleanup(proc.kill)
	defer func() {
		if t.Failed() {
			t.Logf("worker log (tail):\n%s", tail(proc.logPath, 6000))
			t.Logf("temporal server log (tail):\n%s", tail(serverLogPath, 6000))
		}
	}()
	proc.start(t)

	// The incidents: triggered, prepared, classified; every card but the webhook's rejected.
	type unit struct {
		workflowID string
		card       workflows.CardView
		key        string
	}
	var units [][]unit // by card index, then incident
	workflowIDs := make([]string, crashIncidents)
	for i := range crashIncidents {
		inc := phishing(t, fmt.Sprintf("chaos-kill-%02d", i))
		workflowIDs[i] = workflows.IncidentWorkflowID(inc.TenantID, inc.ID)
		if _, err := workflows.TriggerIncident(ctx, c, workflows.TriggerOptions{TaskQueue: queue}, inc); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range workflowIDs {
		cards := readyCards(t, c, id, 60*time.Second)
		apply, rest := split(cards, func(a card.Action) bool { return a == webhookActions })
		if len(apply) == 0 {
			t.Fatalf("%s has no %s card", id, webhookActions)
		}
		if err := classify(ctx, c, id); err != nil {
			t.Fatalf("classify %s: %v", id, err)
		}
		if err := decide(ctx, c, id, card.DecisionReject, ids(rest)); err != nil {
			t.Fatalf("reject the rest of %s: %v", id, err)
		}
		for j, cv := range apply {
			for len(units) <= j {
				units = append(units, make([]unit, crashIncidents))
			}
			units[j][i] = unit{workflowID: id, card: cv, key: idempotencyKey(id, cv)}
		}
	}
	var queueOfUnits []unit
	for _, byIncident := range units {
		for _, u := range byIncident {
			if u.key != "" {
				queueOfUnits = append(queueOfUnits, u)
			}
		}
	}
	setupDone := time.Since(began)

	// Approvals run in the background, retried through kills until the workflow answers; a refusal
	// because the card is no longer proposed means an earlier try got through.
	var approvals sync.WaitGroup
	defer func() { cancel(); approvals.Wait() }() // on failure too: nothing left running
	var approveRetries atomic.Int64
	approve := func(workflowID string, cardIDs []string) {
		approvals.Add(1)
		go func() {
			defer approvals.Done()
			for ctx.Err() == nil {
				actx, acancel := context.WithTimeout(ctx, 20*time.Second)
				err := decide(actx, c, workflowID, card.DecisionApprove, cardIDs)
				acancel()
				if err == nil || refusedAs(err, workflows.RejectConflict) {
					return
				}
				approveRetries.Add(1)
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}

	// The rounds: approve one action, wait until its delivery is at the target, kill the worker at a
	// random moment of the delivery, give the orphans a short heartbeat timeout, start a new worker.
	approved := map[string]bool{}
	next := 0
	rounds, inFlightKills := 0, 0
	orphans := map[string]int{} // "type (heartbeat timeout it had)" -> count
	orphaned := map[string]bool{}
	orphanedApplies := 0
	for inFlightKills < crashRounds {
		if rounds == maxCrashRounds || next == len(queueOfUnits) {
			t.Fatalf("after %d rounds only %d kills hit a delivery in flight (want %d)", rounds, inFlightKills, crashRounds)
		}
		rounds++
		u := queueOfUnits[next]
		next++
		approved[u.key] = true
		approve(u.workflowID, []string{u.card.ID})
		if target.waitStarted(u.key, 12*time.Second) {
			time.Sleep(time.Duration(rand.Int64N(int64(deliveryTime * 2 / 3))))
		}
		// Not while a key hit maxKillsPerKey times is in flight again: its delivery ends in deliveryTime;
		// this round's delivery may end too, and then the kill hits no delivery and does not count.
		for deadline := time.Now().Add(5 * time.Second); !target.safeToKill(); {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: a key hit %d times stayed in flight for 5s", rounds, maxKillsPerKey)
			}
			time.Sleep(5 * time.Millisecond)
		}
		hit := target.markKill()
		proc.kill()
		if len(hit) > 0 {
			inFlightKills++
		}
		swept, err := sweepOrphans(ctx, c, workflowIDs)
		if err != nil {
			t.Fatalf("round %d: %v", rounds, err)
		}
		for _, o := range swept {
			if orphaned[o.attempt] {
				continue
			}
			orphaned[o.attempt] = true
			orphans[fmt.Sprintf("%s (heartbeat timeout %s)", o.activityType, o.heartbeat)]++
			if o.activityType == "ApplyAction" {
				orphanedApplies++
			}
		}
		proc.start(t)
	}
	roundsDone := time.Since(began)

	// The rest of the webhook's actions, approved with the worker left running.
	for _, u := range queueOfUnits[next:] {
		approved[u.key] = true
	}
	byWorkflow := map[string][]string{}
	for _, u := range queueOfUnits[next:] {
		byWorkflow[u.workflowID] = append(byWorkflow[u.workflowID], u.card.ID)
	}
	for id, cardIDs := range byWorkflow {
		approve(id, cardIDs)
	}
	approvals.Wait()

	results := map[string]workflows.IncidentResult{}
	for _, id := range workflowIDs {
		wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
		res, err := waitClosed(wctx, c, id)
		wcancel()
		if err != nil {
			t.Fatalf("%s did not close after the kills: %v", id, err)
		}
		results[id] = res
	}
	closedAt := time.Since(began)

	// Exactly once at the target, and the product's records agree with it.
	seen := target.snapshot()
	for _, p := range seen.problems {
		t.Error("target:", p)
	}
	for key := range approved {
		if seen.applied[key] == "" {
			t.Errorf("approved action %s never applied at the target", key)
		}
	}
	for key := range seen.applied {
		if !approved[key] {
			t.Errorf("the target applied %s, which nobody approved", key)
		}
	}
	if seen.otherRequests > 0 {
		t.Errorf("%d requests reached the Defender, Graph or token endpoints", seen.otherRequests)
	}
	for _, id := range workflowIDs {
		res := results[id]
		if res.Failed != 0 || res.Applied != len(units) {
			t.Errorf("%s closed with %d applied and %d failed actions, want %d and 0", id, res.Applied, res.Failed, len(units))
		}
		desc, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		if s := desc.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED || len(desc.GetPendingActivities()) > 0 {
			t.Errorf("%s: status %s with %d pending activities", id, s, len(desc.GetPendingActivities()))
		}
	}
	retriedKeys, loggedAttempts, maxBegun := 0, 0, 0
	for _, u := range queueOfUnits {
		log, err := st.GetAction(ctx, u.key)
		if err != nil {
			t.Errorf("%s: action log: %v", u.key, err)
			continue
		}
		if log.Status != store.ActionApplied || log.ExternalID != seen.applied[u.key] {
			t.Errorf("%s: action log %s with id %q, the target applied it as %q", u.key, log.Status, log.ExternalID, seen.applied[u.key])
		}
		if log.Attempts > 1 {
			retriedKeys++
		}
		loggedAttempts += log.Attempts
		maxBegun = max(maxBegun, log.Attempts)
	}
	for _, id := range workflowIDs {
		cards, err := queryCards(ctx, c, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, cv := range cards.Cards {
			key := idempotencyKey(id, cv)
			if !approved[key] {
				continue
			}
			if cv.Status != card.StatusApplied || cv.Result == nil || cv.Result.ExternalID != seen.applied[key] {
				t.Errorf("%s: card %s with result %+v, the target applied it as %q", key, cv.Status, cv.Result, seen.applied[key])
			}
		}
	}

	raw, duplicated, maxPerKey, conflicts, keyHits := 0, 0, 0, 0, 0
	for _, n := range seen.deliveries {
		raw += n
		if n > 1 {
			duplicated++
		}
		maxPerKey = max(maxPerKey, n)
	}
	for _, n := range seen.conflicts {
		conflicts += n
	}
	for _, n := range seen.kills {
		keyHits += n
	}
	// A key is delivered again only when an attempt that had begun it died unfinished: with a worker
	// killed, never on its own.
	if extra := raw - len(seen.applied); extra > orphanedApplies {
		t.Errorf("%d deliveries beyond one per key, but only %d apply attempts were orphaned by kills", extra, orphanedApplies)
	}
	t.Logf("%d rounds, %d worker processes, %d kills with a delivery in flight; activities orphaned by the kills (by the heartbeat timeout they had; each now has %s): %v",
		rounds, proc.starts, inFlightKills, orphanHeartbeat, orphans)
	t.Logf("%d actions approved, %d applied at the target; %d raw deliveries: %d keys delivered more than once (at most %d times), "+
		"%d answered 409 (already applied); kills hit %d deliveries of %d keys; action log: %d keys began more than once (at most %d times; the policy allows %d attempts), %d beginnings in all; %d approval retries",
		len(approved), len(seen.applied), raw, duplicated, maxPerKey, conflicts, keyHits, len(seen.kills), retriedKeys, maxBegun,
		activities.DefaultPolicy().ApplyAttempts, loggedAttempts, approveRetries.Load())
	t.Logf("setup %s, rounds done at %s, all %d incidents closed at %s", setupDone.Round(time.Second), roundsDone.Round(time.Second), crashIncidents, closedAt.Round(time.Second))
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.unexpectedExits > 0 {
		t.Errorf("the worker exited by itself %d times", proc.unexpectedExits)
	}
}

// crashTarget is the webhook receiver of the kill test. It verifies each delivery, applies each
// idempotency key once (a later delivery of the key is answered 409 with the same id, as a real tool
// answers a replay), takes deliveryTime to apply, and records what a kill interrupts.
type crashTarget struct {
	store *store.Store

	mu            sync.Mutex
	inflight      map[string]int
	deliveries    map[string]int    // raw deliveries per key
	conflicts     map[string]int    // deliveries answered 409
	applied       map[string]string // key -> the target's id
	payloads      map[string]string // key -> the first delivery's payload, to compare replays with
	kills         map[string]int    // kills that found a delivery of the key in flight
	started       map[string]chan struct{}
	problems      []string
	otherRequests int
}

func newCrashTarget(st *store.Store) *crashTarget {
	return &crashTarget{
		store: st, inflight: map[string]int{}, deliveries: map[string]int{}, conflicts: map[string]int{},
		applied: map[string]string{}, payloads: map[string]string{}, kills: map[string]int{}, started: map[string]chan struct{}{},
	}
}

func (x *crashTarget) problem(format string, args ...any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.problems = append(x.problems, fmt.Sprintf(format, args...))
}

func (x *crashTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/hook" {
		x.mu.Lock()
		x.otherRequests++
		x.mu.Unlock()
		http.Error(w, "not here", http.StatusServiceUnavailable)
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
	p.Timestamp = time.Time{} // a replay is signed anew
	canonical, _ := json.Marshal(p)

	x.mu.Lock()
	x.deliveries[key]++
	x.inflight[key]++
	id, replay := x.applied[key]
	if !replay {
		id = fmt.Sprintf("ind-%d", len(x.applied)+1)
		x.applied[key] = id
		x.payloads[key] = string(canonical)
	} else if x.payloads[key] != string(canonical) {
		x.problems = append(x.problems, fmt.Sprintf("%s delivered again with another payload:\n%s\n%s", key, x.payloads[key], canonical))
	}
	ch := x.started[key]
	if ch == nil {
		ch = make(chan struct{})
		x.started[key] = ch
	}
	select {
	case <-ch:
	default:
		close(ch)
	}
	x.mu.Unlock()

	if replay {
		// The product may send a key again only while it does not know the first delivery's outcome.
		if log, err := x.store.GetAction(context.Background(), key); err == nil && log.Status == store.ActionApplied {
			x.problem("%s delivered again after the action log recorded it applied", key)
		}
	}
	time.Sleep(deliveryTime) // applying, whether or not the sender is still there

	status := http.StatusOK
	if replay {
		status = http.StatusConflict
		x.mu.Lock()
		x.conflicts[key]++
		x.mu.Unlock()
	}
	writeJSON(w, status, map[string]string{"id": id})
	// The delivery stays in flight a little after the answer: the worker still has to record the
	// outcome in the action log, and a kill in between leaves the attempt unfinished too.
	time.AfterFunc(answerGrace, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		x.inflight[key]--
		if x.inflight[key] == 0 {
			delete(x.inflight, key)
		}
	})
}

// snapshot copies what the target recorded, for the assertions.
func (x *crashTarget) snapshot() *crashTarget {
	x.mu.Lock()
	defer x.mu.Unlock()
	return &crashTarget{
		deliveries: maps.Clone(x.deliveries), conflicts: maps.Clone(x.conflicts), applied: maps.Clone(x.applied),
		kills: maps.Clone(x.kills), problems: slices.Clone(x.problems), otherRequests: x.otherRequests,
	}
}

// waitStarted waits until a delivery of key has reached the target.
func (x *crashTarget) waitStarted(key string, limit time.Duration) bool {
	x.mu.Lock()
	ch := x.started[key]
	if ch == nil {
		ch = make(chan struct{})
		x.started[key] = ch
	}
	x.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-time.After(limit):
		return false
	}
}

// safeToKill reports whether no delivery in flight belongs to a key already hit maxKillsPerKey times.
func (x *crashTarget) safeToKill() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for key := range x.inflight {
		if x.kills[key] >= maxKillsPerKey {
			return false
		}
	}
	return true
}

// markKill records the deliveries in flight at the moment of a kill.
func (x *crashTarget) markKill() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var hit []string
	for key := range x.inflight {
		x.kills[key]++
		hit = append(hit, key)
	}
	return hit
}

// orphan is an activity a killed worker had started: its type and the heartbeat timeout it had (a
// retry keeps the timeout an earlier sweep gave it).
type orphan struct {
	attempt      string // workflow, activity and attempt: an attempt stays pending across kills until it times out
	activityType string
	heartbeat    time.Duration
}

// sweepOrphans gives every activity that a killed worker had started a short heartbeat timeout, so that
// the server notices the dead attempt in seconds instead of the workflow's 2 minutes (or, for activities
// without one, their start-to-close timeout). It runs while no worker is up, so every started activity
// is an orphan.
func sweepOrphans(ctx context.Context, c client.Client, workflowIDs []string) ([]orphan, error) {
	var swept []orphan
	for _, id := range workflowIDs {
		var desc *workflowservice.DescribeWorkflowExecutionResponse
		var err error
		for try := 0; try < 3; try++ { // the machine may be busy: a slow answer is not a failure
			if desc, err = c.DescribeWorkflowExecution(ctx, id, ""); err == nil {
				break
			}
		}
		if err != nil {
			return swept, fmt.Errorf("describe %s: %w", id, err)
		}
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED {
				continue
			}
			hb := pa.GetActivityOptions().GetHeartbeatTimeout().AsDuration()
			swept = append(swept, orphan{
				attempt:      fmt.Sprintf("%s/%s/%d", id, pa.GetActivityId(), pa.GetAttempt()),
				activityType: pa.GetActivityType().GetName(), heartbeat: hb,
			})
			if hb > 0 && hb <= orphanHeartbeat {
				continue
			}
			_, err := c.WorkflowService().UpdateActivityOptions(ctx, &workflowservice.UpdateActivityOptionsRequest{
				Namespace:       "default",
				Execution:       &commonpb.WorkflowExecution{WorkflowId: id},
				Identity:        "chaos-test",
				Activity:        &workflowservice.UpdateActivityOptionsRequest_Id{Id: pa.GetActivityId()},
				ActivityOptions: &activitypb.ActivityOptions{HeartbeatTimeout: durationpb.New(orphanHeartbeat)},
				UpdateMask:      &fieldmaskpb.FieldMask{Paths: []string{"heartbeat_timeout"}},
			})
			if err != nil {
				return swept, fmt.Errorf("shorten the heartbeat timeout of %s activity %s: %w", id, pa.GetActivityId(), err)
			}
		}
	}
	return swept, nil
}

// buildWorker builds the worker binary from this repository into a temporary directory.
func buildWorker(ctx context.Context, t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "worker")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./worker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./worker: %v\n%s", err, out)
	}
	return bin
}

// runWorkerCommand runs one of the worker's one-shot commands with env added to a minimal environment.
func runWorkerCommand(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(baseEnv(), env...)
	return cmd.CombinedOutput()
}

// baseEnv is what the worker process inherits: no GUIDED_*, DATABASE_URL or TEMPORAL_* of the caller.
func baseEnv() []string {
	var env []string
	for _, name := range []string{"PATH", "HOME", "TMPDIR", "PG_BIN"} {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// workerProcess runs the worker binary, one process at a time, its output appended to one log file.
type workerProcess struct {
	bin     string
	env     []string
	logPath string

	mu              sync.Mutex
	cmd             *exec.Cmd
	exited          chan struct{}
	killing         bool
	starts          int
	unexpectedExits int
}

func (p *workerProcess) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		t.Fatal("a worker process is running already")
	}
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.starts++
	fmt.Fprintf(log, "=== worker process %d\n", p.starts)
	cmd := exec.Command(p.bin)
	cmd.Env = append(baseEnv(), p.env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		t.Fatalf("start the worker: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = log.Close()
		p.mu.Lock()
		if !p.killing && p.cmd == cmd {
			p.unexpectedExits++
			p.cmd = nil
		}
		p.mu.Unlock()
		close(exited)
	}()
	p.cmd, p.exited, p.killing = cmd, exited, false
}

// kill sends SIGKILL to the running worker process, if any, and waits for it to be gone.
func (p *workerProcess) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	if cmd == nil {
		p.mu.Unlock()
		return
	}
	p.killing = true
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
}

// tail is the end of a log file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(bytes.ToValidUTF8(data, []byte("?")))
}
