package workflows_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/temporalclient"
	"github.com/guided-response/guided/internal/testenv"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/workflows"
)

// Every committed history (one per released workflow version) must replay on the current code: a change
// that would break running workflows fails here. Record a new one with GUIDED_RECORD_HISTORY=1 (see
// TestRecordAndReplayLiveHistory) when a workflow version is released.
func TestReplayCommittedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no committed histories in testdata/histories")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.IncidentWorkflow)
			r.RegisterWorkflow(workflows.FeedbackWorkflow)
			r.RegisterWorkflow(workflows.BareWorkflow)
			r.RegisterWorkflow(workflows.TrainWorkflow)
			if err := r.ReplayWorkflowHistoryFromJSONFile(temporalclient.NewLogger(hclog.NewNullLogger()), f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// TestRecordAndReplayLiveHistory runs an incident's whole life on the real embedded server (start, a
// duplicate trigger, a newer version, a malformed update, resolution) and replays the history it made.
// With GUIDED_RECORD_HISTORY=1 it also writes that history to testdata/histories.
func TestRecordAndReplayLiveHistory(t *testing.T) {
	env := testenv.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	incs, err := incident.ParseFile("../incident/testdata/graph_incident_multi.json")
	if err != nil {
		t.Fatal(err)
	}
	inc := incs[0]
	res, err := workflows.TriggerIncident(ctx, env.Client, workflows.TriggerOptions{}, &inc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflows.TriggerIncident(ctx, env.Client, workflows.TriggerOptions{}, &inc); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.SignalWorkflow(ctx, res.WorkflowID, "", workflows.SignalIncidentUpdated, map[string]any{"incident": "garbage"}); err != nil {
		t.Fatal(err)
	}
	newer := inc
	newer.LastUpdatedAt = inc.LastUpdatedAt.Add(time.Hour)
	newer.Status = incident.StatusInProgress
	if _, err := workflows.TriggerIncident(ctx, env.Client, workflows.TriggerOptions{}, &newer); err != nil {
		t.Fatal(err)
	}
	// Resolved and classified at the source: the workflow takes the classification and closes.
	resolved := newer
	resolved.LastUpdatedAt = newer.LastUpdatedAt.Add(time.Hour)
	resolved.Status = incident.StatusResolved
	resolved.Classification = incident.ClassificationTruePositive
	resolved.Determination = incident.DeterminationMultiStagedAttack
	if _, err := workflows.TriggerIncident(ctx, env.Client, workflows.TriggerOptions{}, &resolved); err != nil {
		t.Fatal(err)
	}
	var out workflows.IncidentResult
	if err := env.Client.GetWorkflow(ctx, res.WorkflowID, res.RunID).Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != string(incident.StatusResolved) || out.IngestCount != 3 || out.Classification != incident.ClassificationTruePositive {
		t.Fatalf("result %+v: want resolved and classified after 3 ingests (start, newer, resolved)", out)
	}

	// A closed incident is not restarted by a late duplicate unless asked to reopen.
	if _, err := workflows.TriggerIncident(ctx, env.Client, workflows.TriggerOptions{}, &resolved); err == nil {
		t.Fatal("a trigger after close started a new run")
	}

	history := fetchHistory(t, ctx, env.Client, res.WorkflowID, res.RunID)
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflow(workflows.IncidentWorkflow)
	if err := r.ReplayWorkflowHistory(temporalclient.NewLogger(hclog.NewNullLogger()), history); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if os.Getenv("GUIDED_RECORD_HISTORY") == "1" {
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(history)
		if err != nil {
			t.Fatal(err)
		}
		// The current version of the incident workflow: v1 has no version markers; v2 records
		// close-awaits-side-effects; v3 quiet-timers and refuse-when-closing too. Keep every released
		// version's history.
		path := filepath.Join("testdata", "histories", "incident_v3.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s (%d events)", path, len(history.Events))
	}
}

func fetchHistory(t *testing.T, ctx context.Context, c client.Client, id, runID string) *historypb.History {
	t.Helper()
	var h historypb.History
	it := c.GetWorkflowHistory(ctx, id, runID, false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	return &h
}

// TestRecordAndReplayFeedbackAndBare runs the two small workflows on the real embedded server and replays
// their histories; with GUIDED_RECORD_HISTORY=1 it writes them to testdata/histories.
func TestRecordAndReplayFeedbackAndBare(t *testing.T) {
	env := testenv.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.Activities.Access.UpsertPrincipal(ctx, rbac.PrincipalInput{TenantID: "contoso", ID: "rita@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Activities.Access.GrantRole(ctx, "contoso", "rita@contoso.com", rbac.RoleSecurityReader); err != nil {
		t.Fatal(err)
	}
	fb := workflows.FeedbackWorkflowInput{Permission: rbac.PermSecurityDataRead, Feedback: activities.FeedbackRecord{
		FeedbackID: "fb-replay-1", TenantID: "contoso", IncidentID: "42", CardID: "c-1", Principal: "rita@contoso.com", Helpful: true,
	}}
	run, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.FeedbackWorkflowID("t1", "fb-replay-1"), TaskQueue: env.TaskQueue}, workflows.FeedbackWorkflow, fb)
	if err != nil {
		t.Fatal(err)
	}
	var out workflows.FeedbackOutput
	if err := run.Get(ctx, &out); err != nil || !out.Created {
		t.Fatalf("feedback workflow: %+v, %v", out, err)
	}
	bare, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bare-replay-1", TaskQueue: env.TaskQueue}, workflows.BareWorkflow, workflows.BareInput{Activities: workflows.BareActivities})
	if err != nil {
		t.Fatal(err)
	}
	if err := bare.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// A training run with too little history: it skips, through the same commands as a real one.
	train, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "train-replay-1", TaskQueue: env.TaskQueue}, workflows.TrainWorkflow, workflows.TrainInput{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var trained workflows.TrainOutput
	if err := train.Get(ctx, &trained); err != nil || trained.Skipped == "" {
		t.Fatalf("train workflow: %+v, %v", trained, err)
	}
	for name, r := range map[string]client.WorkflowRun{"feedback_v1.json": run, "bare_v1.json": bare, "train_v1.json": train} {
		history := fetchHistory(t, ctx, env.Client, r.GetID(), r.GetRunID())
		replayer := worker.NewWorkflowReplayer()
		replayer.RegisterWorkflow(workflows.FeedbackWorkflow)
		replayer.RegisterWorkflow(workflows.BareWorkflow)
		replayer.RegisterWorkflow(workflows.TrainWorkflow)
		if err := replayer.ReplayWorkflowHistory(temporalclient.NewLogger(hclog.NewNullLogger()), history); err != nil {
			t.Fatalf("replay %s: %v", name, err)
		}
		if os.Getenv("GUIDED_RECORD_HISTORY") == "1" {
			b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(history)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("testdata", "histories", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
