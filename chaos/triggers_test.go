package chaos

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/guided-response/guided/workflows"
)

// A hundred concurrent triggers of one incident start one workflow: every trigger answers with the same
// run, visibility lists one execution, the incident is persisted once (one PersistIncident in the
// history, one row in PostgreSQL), and the 99 duplicates reach the running workflow as re-ingests that
// change nothing.
func TestDuplicateTriggersStartOneWorkflow(t *testing.T) {
	s := startStack(t)
	const queue = "chaos-triggers"
	startWorker(t, s.client, queue, s.newActivities(t, nil, nil), workerOptions("triggers"))
	inc := phishing(t, "chaos-dup-1")
	workflowID := workflows.IncidentWorkflowID(inc.TenantID, inc.ID)

	const triggers = 100
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	results := make([]workflows.TriggerResult, triggers)
	errs := make([]error, triggers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range triggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = workflows.TriggerIncident(ctx, s.client, workflows.TriggerOptions{TaskQueue: queue}, inc)
		}()
	}
	close(start)
	wg.Wait()

	runs := map[string]int{}
	for i := range triggers {
		if errs[i] != nil {
			t.Fatalf("trigger %d: %v", i, errs[i])
		}
		if results[i].WorkflowID != workflowID {
			t.Fatalf("trigger %d reached workflow %s, want %s", i, results[i].WorkflowID, workflowID)
		}
		runs[results[i].RunID]++
	}
	if len(runs) != 1 {
		t.Fatalf("%d concurrent triggers answered with %d runs, want 1: %v", triggers, len(runs), runs)
	}
	readyCards(t, s.client, workflowID, 30*time.Second)

	// Visibility is eventually consistent: wait until it lists the run, then there must be exactly one.
	query := fmt.Sprintf("WorkflowId = '%s'", workflowID)
	var listed []string
	waitFor(t, 20*time.Second, "visibility to list the workflow", func() bool {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			return false
		}
		listed = listed[:0]
		for _, e := range resp.GetExecutions() {
			listed = append(listed, e.GetExecution().GetRunId())
		}
		return len(listed) > 0
	})
	if len(listed) != 1 {
		t.Errorf("visibility lists %d executions of %s, want 1: %v", len(listed), workflowID, listed)
	}
	desc, err := s.client.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("workflow status %s, want running", info.GetStatus())
	}
	for run := range runs {
		if info.GetExecution().GetRunId() != run {
			t.Errorf("the current run is %s, the triggers answered %s", info.GetExecution().GetRunId(), run)
		}
	}

	// Every duplicate arrived as a signal and was taken as a re-ingest that changes nothing.
	var events map[enumspb.EventType]int
	waitFor(t, 20*time.Second, "the workflow to take all 100 triggers", func() bool {
		events, err = countHistory(ctx, s.client, workflowID)
		if err != nil || events[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED] < triggers {
			return false
		}
		st, err := queryStatus(ctx, s, workflowID)
		// The workflow task after the last signal has completed once no workflow task is pending.
		desc, derr := s.client.DescribeWorkflowExecution(ctx, workflowID, "")
		return err == nil && derr == nil && st.Ready && desc.GetPendingWorkflowTask() == nil
	})
	if n := events[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]; n != triggers {
		t.Errorf("%d signals in the history, want one per trigger (%d)", n, triggers)
	}
	starts, err := activityStarts(ctx, s.client, workflowID)
	if err != nil {
		t.Fatal(err)
	}
	persisted := 0
	for _, byType := range starts {
		persisted += byType["PersistIncident"]
	}
	if persisted != 1 {
		t.Errorf("PersistIncident ran %d times, want once", persisted)
	}
	st, err := queryStatus(ctx, s, workflowID)
	if err != nil {
		t.Fatal(err)
	}
	if st.IngestCount != 1 || st.RejectedUpdates != 0 {
		t.Errorf("status: ingestCount %d (want 1), rejectedUpdates %d (want 0)", st.IngestCount, st.RejectedUpdates)
	}

	var rows, alerts int
	if err := s.dev.DB.GetContext(ctx, &rows, `SELECT count(*) FROM incidents WHERE tenant_id = $1 AND incident_id = $2`, inc.TenantID, inc.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.dev.DB.GetContext(ctx, &alerts, `SELECT count(*) FROM alerts WHERE tenant_id = $1 AND incident_id = $2`, inc.TenantID, inc.ID); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || alerts != len(inc.Alerts) {
		t.Errorf("PostgreSQL holds %d rows of the incident (want 1) and %d alerts (want %d)", rows, alerts, len(inc.Alerts))
	}
	t.Logf("%d concurrent triggers: 1 run (%s), %d signals, PersistIncident once, 1 incident row", triggers, info.GetExecution().GetRunId(), events[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED])
}

func queryStatus(ctx context.Context, s *stack, workflowID string) (workflows.StatusOutput, error) {
	var st workflows.StatusOutput
	resp, err := s.client.QueryWorkflow(ctx, workflowID, "", workflows.QueryStatus, workflows.StatusInput{})
	if err == nil {
		err = resp.Get(&st)
	}
	return st, err
}
