package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/summary"
	"github.com/guided-response/guided/workflows"
)

// Two workers on one task queue, each with its own client and activities, share the incidents; one is
// stopped while incidents are still being prepared, and none is lost: every incident reaches Ready on the
// worker that is left, and the stopped worker starts nothing after it stopped.
func TestTwoWorkersShareIncidentsOneStopsMidRun(t *testing.T) {
	s := startStack(t)
	const queue = "chaos-scaleout"
	const first, second = "worker-1", "worker-2"
	// Both workers write the attack story with a language model that takes most of a second, so that work
	// is in flight on a worker when it stops: each its own endpoint, to see what each one holds.
	llms := map[string]*slowLLM{first: newSlowLLM(t), second: newSlowLLM(t)}
	withLLM := func(name string) *activities.Activities {
		acts := s.newActivities(t, nil, nil)
		acts.LLM = &summary.LLM{BaseURL: llms[name].url, Model: name, Timeout: 20 * time.Second, Logger: s.logger}
		return acts
	}
	stopFirst := startWorker(t, dial(t, s.dev.Temporal.FrontendAddress(), s.logger), queue, withLLM(first), workerOptions(first))
	startWorker(t, dial(t, s.dev.Temporal.FrontendAddress(), s.logger), queue, withLLM(second), workerOptions(second))

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	const total = 30
	workflowIDs := make([]string, total)
	trigger := func(from, to int) {
		var wg sync.WaitGroup
		for i := from; i < to; i++ {
			inc := phishing(t, fmt.Sprintf("chaos-scale-%02d", i))
			workflowIDs[i] = workflows.IncidentWorkflowID(inc.TenantID, inc.ID)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := workflows.TriggerIncident(ctx, s.client, workflows.TriggerOptions{TaskQueue: queue}, inc); err != nil {
					t.Errorf("trigger %s: %v", inc.ID, err)
				}
			}()
		}
		wg.Wait()
	}
	ready := func(id string) bool {
		qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
		defer qcancel()
		st, err := queryStatus(qctx, s, id)
		return err == nil && st.Ready
	}

	// A third with both workers up; then the rest, and the first worker stops while it holds at least one
	// of their attack stories (a model call in flight) and they are being persisted, summarized and given
	// cards.
	trigger(0, total/3)
	waitFor(t, 30*time.Second, "the first incidents to be ready", func() bool { return ready(workflowIDs[0]) })
	trigger(total/3, total)
	waitFor(t, 20*time.Second, first+" to hold work", func() bool { return llms[first].inflight.Load() > 0 })
	heldAtStop := llms[first].inflight.Load()
	stopFirst()
	stopped := time.Now()

	// A task the stopped worker had polled but not finished is given to the other worker after its
	// start-to-close timeout (a minute at most for these activities), so allow for one.
	for _, id := range workflowIDs {
		waitFor(t, 80*time.Second, id+" to be ready with one worker left", func() bool { return ready(id) })
	}

	// Who ran what, from the histories: activities started per worker; incidents whose cards were made
	// after the stop (the stop was mid-run); activities the second worker ran again after an attempt on
	// the first one was cut short; and anything the first worker started after it stopped.
	perWorker := map[string]int{}
	both, preparedAfterStop, redone := 0, 0, 0
	narratives := map[string]int{}
	var startedAfterStop []string
	for _, id := range workflowIDs {
		it := s.client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		activityType := map[int64]string{}
		served := map[string]bool{}
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			at := ev.GetEventTime().AsTime()
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				activityType[ev.GetEventId()] = a.GetActivityType().GetName()
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
				perWorker[a.GetIdentity()]++
				served[a.GetIdentity()] = true
				if a.GetIdentity() == first && at.After(stopped) {
					startedAfterStop = append(startedAfterStop, fmt.Sprintf("%s event %d", id, ev.GetEventId()))
				}
				if a.GetIdentity() == second && a.GetAttempt() > 1 {
					redone++
				}
			}
			if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil &&
				activityType[a.GetScheduledEventId()] == "GenerateCards" && at.After(stopped) {
				preparedAfterStop++
			}
		}
		if served[first] && served[second] {
			both++
		}
		var story workflows.SummaryOutput
		resp, err := s.client.QueryWorkflow(ctx, id, "", workflows.QuerySummary, workflows.SummaryInput{})
		if err == nil {
			err = resp.Get(&story)
		}
		if err != nil {
			t.Fatal(err)
		}
		narratives[story.Story.NarrativeSource]++
	}
	var stored int
	if err := s.dev.DB.GetContext(ctx, &stored, `SELECT count(*) FROM incidents WHERE incident_id LIKE 'chaos-scale-%'`); err != nil {
		t.Fatal(err)
	}

	identities := make([]string, 0, len(perWorker))
	for id := range perWorker {
		identities = append(identities, id)
	}
	sort.Strings(identities)
	t.Logf("activities started per worker: %v; incidents served by both: %d of %d; cards made after %s stopped: %d of %d; "+
		"activities %s ran again after an attempt on %s was cut short: %d; %s held %d model calls when it stopped; narratives by source %v",
		perWorker, both, total, first, preparedAfterStop, total, second, first, redone, first, heldAtStop, narratives)
	if perWorker[first] == 0 || perWorker[second] == 0 {
		t.Errorf("the workers did not share the incidents: activities started per worker %v", perWorker)
	}
	if len(identities) != 2 {
		t.Errorf("activities started by %v, want exactly %s and %s", identities, first, second)
	}
	if preparedAfterStop == 0 {
		t.Errorf("every incident had its cards before %s stopped: the stop was not mid-run", first)
	}
	if len(startedAfterStop) > 0 {
		t.Errorf("%s started activities after it stopped: %v", first, startedAfterStop)
	}
	if stored != total {
		t.Errorf("PostgreSQL holds %d of the %d incidents", stored, total)
	}
}

// slowLLM is an OpenAI-compatible chat-completions endpoint that takes 800 ms to answer; it counts the
// calls in flight.
type slowLLM struct {
	url      string
	inflight atomic.Int64
}

func newSlowLLM(t *testing.T) *slowLLM {
	l := &slowLLM{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.inflight.Add(1)
		defer l.inflight.Add(-1)
		select {
		case <-time.After(800 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"choices": []any{map[string]any{"message": map[string]string{"role": "assistant", "content": "A user reported a phishing email."}}},
		})
	}))
	t.Cleanup(srv.Close)
	l.url = srv.URL
	return l
}
