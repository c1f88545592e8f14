package learn

import (
	"encoding/json"
	"testing"

	"github.com/guided-response/guided/guide"
)

func TestSplitByOrgKeepsOrganisationsApart(t *testing.T) {
	incs := Pointers(synthIncidents(synthOptions{Incidents: 3000, Orgs: 60, Detectors: 80, Seed: 3}))
	for _, seed := range []int64{1, 2, 3, 42} {
		train, test := Split(incs, SplitByOrg, 0.7, seed)
		if len(train)+len(test) != len(incs) || len(train) == 0 || len(test) == 0 {
			t.Fatalf("seed %d: %d + %d of %d incidents", seed, len(train), len(test), len(incs))
		}
		orgs := map[int64]bool{}
		for _, inc := range train {
			orgs[inc.Key.OrgID] = true
		}
		for _, inc := range test {
			if orgs[inc.Key.OrgID] {
				t.Fatalf("seed %d: organisation %d is on both sides", seed, inc.Key.OrgID)
			}
		}
		share := float64(len(train)) / float64(len(incs))
		if share < 0.5 || share > 0.9 {
			t.Errorf("seed %d: training share %.2f, asked 0.7", seed, share)
		}
	}
}

func TestSplitByIncidentIsStratifiedAndReproducible(t *testing.T) {
	incs := Pointers(synthIncidents(synthOptions{Incidents: 2000, Orgs: 30, Detectors: 50, Seed: 4}))
	train, test := Split(incs, SplitByIncident, 0.7, 9)
	count := func(set []*guide.Incident) map[guide.Grade]int {
		m := map[guide.Grade]int{}
		for _, inc := range set {
			m[inc.Grade]++
		}
		return m
	}
	all, tr := count(incs), count(train)
	for g, n := range all {
		if share := float64(tr[g]) / float64(n); share < 0.69 || share > 0.71 {
			t.Errorf("grade %s: %.3f of its incidents in training, want 0.7", g, share)
		}
	}
	train2, test2 := Split(incs, SplitByIncident, 0.7, 9)
	if len(train2) != len(train) || len(test2) != len(test) {
		t.Fatal("the same seed split differently")
	}
	for i := range train {
		if train[i] != train2[i] {
			t.Fatal("the same seed split differently")
		}
	}
}

func TestEvaluateSynthetic(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	incs := Pointers(synthIncidents(synthOptions{Incidents: 6000, Orgs: 80, Detectors: 150, Seed: 5}))
	train, test := Split(incs, SplitByIncident, 0.7, 42)
	m, err := Train(train, TrainOptions{Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	r := Evaluate(m, train, test, EvalOptions{Threshold: m.Threshold})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", b)
	if r.MacroF1 < 0.6 {
		t.Errorf("macro-F1 %.3f on synthetic incidents: the model learnt little", r.MacroF1)
	}
	if r.NTest != len(test) || r.NTrain != len(train) {
		t.Errorf("n_train %d, n_test %d: want %d, %d", r.NTrain, r.NTest, len(train), len(test))
	}
	if r.SimilarPrecisionAt5 <= 0.4 || r.ActionIncidents == 0 || r.ActionRecall == 0 {
		t.Errorf("similar p@5 %.3f, %d action incidents, action recall %.3f", r.SimilarPrecisionAt5, r.ActionIncidents, r.ActionRecall)
	}
}

// The reference sees no history: its vector is the plain aggregate entries and three identifiers as
// numbers; on incidents whose grade follows their organisation's and detector's history, the triage
// model, which reads that history, does better.
func TestBaselineHasNoHistory(t *testing.T) {
	incs := Pointers(synthIncidents(synthOptions{Incidents: 3000, Orgs: 60, Detectors: 120, Seed: 9}))
	train, test := Split(incs, SplitByIncident, 0.7, 42)
	b, err := EvaluateBaseline(train, test, DefaultTargetPrecision, 42)
	if err != nil {
		t.Fatal(err)
	}
	f := FitFeatures(train, FeatureOptions{})
	plain := 0
	for i := range f.Names {
		if !f.TargetEncoded(i) {
			plain++
		}
	}
	if b.Features != plain+len(baselineIDs) {
		t.Errorf("baseline reads %d features, want the %d plain ones and %d identifiers", b.Features, plain, len(baselineIDs))
	}
	m, err := Train(train, TrainOptions{Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	r := Evaluate(m, train, test, EvalOptions{SimilarQueries: 1})
	t.Logf("triage model macro-F1 %.3f, coverage %.3f at precision 0.92; baseline %.3f, %.3f", r.MacroF1, r.CoverageAtPrecision, b.MacroF1, b.CoverageAtPrecision)
	if b.MacroF1 <= 0.34 || b.MacroF1 >= r.MacroF1 {
		t.Errorf("baseline macro-F1 %.3f, triage model %.3f: want the baseline above chance and below the model", b.MacroF1, r.MacroF1)
	}
	if _, err := EvaluateBaseline(train[:5], test, DefaultTargetPrecision, 1); err == nil {
		t.Error("a baseline from 5 incidents")
	}
}
