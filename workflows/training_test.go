package workflows_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/guidegen"
	"github.com/guided-response/guided/internal/testenv"
	"github.com/guided-response/guided/learn"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/workflows"
)

// TestTrainedTriageModel: history imported, a model trained by the training workflow, a new incident's
// triage card from it (version, confidence, why); after a retraining, the running incident keeps the
// version it started with while a new incident gets the new one.
func TestTrainedTriageModel(t *testing.T) {
	env := testenv.Start(t)
	env.Activities.Models.Recheck = 0
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var csv bytes.Buffer
	if _, err := guidegen.Generate(&csv, guidegen.Options{Rows: 30000, Orgs: 60, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	r, err := guide.NewReader(&csv, "generated.csv")
	if err != nil {
		t.Fatal(err)
	}
	agg := guide.NewAggregator()
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		agg.Add(row)
	}
	if _, err := env.Store.UpsertHistorical(ctx, store.SourceGUIDE, agg.Incidents()); err != nil {
		t.Fatal(err)
	}

	train := func() workflows.TrainOutput {
		t.Helper()
		run, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.TrainWorkflowID(time.Now()) + t.Name(), TaskQueue: env.TaskQueue},
			workflows.TrainWorkflow, workflows.TrainInput{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var out workflows.TrainOutput
		if err := run.Get(ctx, &out); err != nil {
			t.Fatalf("training: %v", err)
		}
		if out.Skipped != "" || !strings.HasPrefix(out.Version, learn.ModelVersion+"-") || out.Graded < 1000 {
			t.Fatalf("training output %+v", out)
		}
		return out
	}
	first := train()

	triageOf := func(id string) (card.TriageSuggestion, string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := env.Client.QueryWorkflow(ctx, workflows.IncidentWorkflowID("4d3a7c2e-5b1f-4e8a-9c6d-2f7b8a1e0c93", id), "", workflows.QueryCards, workflows.CardsInput{})
			if err == nil {
				var out workflows.CardsOutput
				if err := resp.Get(&out); err != nil {
					t.Fatal(err)
				}
				if out.Ready {
					for _, c := range out.Cards {
						if c.Triage != nil {
							return *c.Triage, out.ModelVersion
						}
					}
					t.Fatal("no triage card")
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("cards of %s never ready: %v", id, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	incs, err := incident.ParseFile("../incident/testdata/native_phishing.json")
	if err != nil {
		t.Fatal(err)
	}
	inc := incs[0]
	if _, err := workflows.TriggerIncident(ctx, env.Client, workflows.TriggerOptions{}, &inc); err != nil {
		t.Fatal(err)
	}
	s, version := triageOf("3201")
	if s.ModelVersion != first.Version || version != first.Version {
		t.Fatalf("triage from %q (cards say %q), want the trained %s", s.ModelVersion, version, first.Version)
	}
	if s.Confidence <= 0 || s.Confidence > 1 || len(s.Why) < 2 || !s.Classification.Valid() {
		t.Fatalf("triage suggestion %+v", s)
	}

	second := train()
	if second.Version == first.Version {
		t.Fatal("retraining made the same version")
	}
	// The running incident regenerates its cards on a newer version of itself: it keeps its model.
	newer := inc
	newer.LastUpdatedAt = inc.LastUpdatedAt.Add(time.Hour)
	newer.Alerts = append(newer.Alerts, newer.Alerts[0])
	newer.Alerts[len(newer.Alerts)-1].ID = "fa7c1e2d3b4a-added"
	if _, err := workflows.TriggerIncident(ctx, env.Client, workflows.TriggerOptions{}, &newer); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := env.Client.QueryWorkflow(ctx, workflows.IncidentWorkflowID(inc.TenantID, inc.ID), "", workflows.QueryStatus, workflows.StatusInput{})
		if err != nil {
			t.Fatal(err)
		}
		var st workflows.StatusOutput
		if err := resp.Get(&st); err != nil {
			t.Fatal(err)
		}
		if st.Alerts == len(newer.Alerts) && st.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the re-ingest never arrived: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s, version := triageOf("3201"); s.ModelVersion != first.Version || version != first.Version {
		t.Errorf("after retraining the running incident's triage is from %q (cards %q), want the version it started with %s", s.ModelVersion, version, first.Version)
	}
	twin := inc
	twin.ID = "3202"
	twin.Alerts = nil
	for _, a := range inc.Alerts {
		a.ID = "twin-" + a.ID
		twin.Alerts = append(twin.Alerts, a)
	}
	if _, err := workflows.TriggerIncident(ctx, env.Client, workflows.TriggerOptions{}, &twin); err != nil {
		t.Fatal(err)
	}
	if s, _ := triageOf("3202"); s.ModelVersion != second.Version {
		t.Errorf("a new incident's triage is from %q, want the latest %s", s.ModelVersion, second.Version)
	}
}
