package console_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/guidegen"
	"github.com/guided-response/guided/store"
)

// TestSimilarIncidentsByEmbedding: with a trained model, "View similar incidents" finds the tenant's
// closed incidents nearest in the model's embedding, with their grade and the actions applied.
func TestSimilarIncidentsByEmbedding(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Two earlier incidents, worked to their end: the same phishing campaign, and the multi-stage one.
	f.ingest("../incident/testdata/native_phishing.json", `"id": "3201"`, `"id": "3190"`,
		"fa7c1e2d3b4a-5968", "0b7c1e2d3b4a-5968", "fa9d8c7b6a5f-4e3d", "0b9d8c7b6a5f-4e3d")
	f.closeAsAnalysts("3190", string(incident.ClassificationTruePositive), string(incident.DeterminationPhishing))
	f.ingest("../incident/testdata/graph_incident_multi.json")
	f.closeAsAnalysts("3187", string(incident.ClassificationFalsePositive), string(incident.DeterminationNotMalicious))

	// A model trained on generated GUIDE history and those two.
	var csv bytes.Buffer
	if _, err := guidegen.Generate(&csv, guidegen.Options{Rows: 20000, Orgs: 40, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	incs, _, err := readAll(&csv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Store.UpsertHistorical(ctx, store.SourceGUIDE, incs); err != nil {
		t.Fatal(err)
	}
	out, err := f.env.Activities.TrainTriage(ctx, activities.TrainTriageInput{Version: "triage-gbdt-v1-test", Seed: 1})
	if err != nil || out.Version == "" || out.BySource[store.SourceGuided] != 2 {
		t.Fatalf("train: %+v, %v", out, err)
	}

	f.ingest("../incident/testdata/native_phishing.json")
	f.cards("3201", alice)
	var answer struct {
		Items  []store.SimilarIncident `json:"items"`
		Method string                  `json:"method"`
	}
	if st := f.apiCall("GET", "/v1/incidents/"+tenant+"/3201/similar", rita, nil, &answer); st != http.StatusOK {
		t.Fatalf("similar: %d", st)
	}
	if !strings.Contains(answer.Method, "embedding") || !strings.Contains(answer.Method, "triage-gbdt-v1-test") {
		t.Fatalf("method %q", answer.Method)
	}
	if len(answer.Items) != 2 || answer.Items[0].IncidentID != "3190" || answer.Items[1].IncidentID != "3187" {
		t.Fatalf("items %+v: want 3190 (the same campaign) first, then 3187", answer.Items)
	}
	first := answer.Items[0]
	if first.Classification != string(incident.ClassificationTruePositive) || first.Determination != string(incident.DeterminationPhishing) ||
		len(first.AppliedActions) == 0 || first.Title == "" || first.Score <= answer.Items[1].Score {
		t.Errorf("nearest %+v", first)
	}

	s := f.newSession(t)
	s.signIn(alice)
	p := s.do("GET", "/console/incidents/"+tenant+"/3201/similar", nil, map[string]string{"HX-Request": "true"})
	if p.status != http.StatusOK || !strings.Contains(p.body, "embedding") || !strings.Contains(p.body, `data-incident="3190"`) {
		t.Errorf("console similar: %d %s", p.status, p.body)
	}
}

func readAll(r *bytes.Buffer) ([]guide.Incident, int, error) {
	rd, err := guide.NewReader(r, "generated.csv")
	if err != nil {
		return nil, 0, err
	}
	agg := guide.NewAggregator()
	n := 0
	for {
		row, err := rd.Next()
		if err != nil {
			break
		}
		agg.Add(row)
		n++
	}
	return agg.Incidents(), n, nil
}
