package learn

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/guided-response/guided/guide"
)

var fixture struct {
	once        sync.Once
	m           *Model
	train, test []*guide.Incident
	err         error
}

// trainedModel is one model trained on synthetic incidents, shared by the tests.
func trainedModel(t testing.TB) (*Model, []*guide.Incident, []*guide.Incident) {
	t.Helper()
	fixture.once.Do(func() {
		incs := Pointers(synthIncidents(synthOptions{Incidents: 5000, Orgs: 60, Detectors: 120, Seed: 21}))
		fixture.train, fixture.test = Split(incs, SplitByIncident, 0.7, 21)
		fixture.m, fixture.err = Train(fixture.train, TrainOptions{Seed: 21})
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.m, fixture.train, fixture.test
}

func TestModelRoundTripGivesIdenticalPredictions(t *testing.T) {
	m, _, test := trainedModel(t)
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	size := buf.Len()
	loaded, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("model: %d bytes of JSON, %d rounds, threshold %.3f, T %.3f", size, m.Trees.Rounds(), m.Threshold, m.Calibration.Temperature)
	for _, inc := range test {
		a, b := m.Predict(inc), loaded.Predict(inc)
		if a != b {
			t.Fatalf("incident %v: %+v before saving, %+v after", inc.Key, a, b)
		}
		_, ra := m.Explain(inc, 5)
		_, rb := loaded.Explain(inc, 5)
		if !slices.Equal(ra, rb) {
			t.Fatalf("incident %v: explanations differ", inc.Key)
		}
		ea, eb := m.Embedder.Embed(inc, nil), loaded.Embedder.Embed(inc, nil)
		if !slices.Equal(ea, eb) {
			t.Fatalf("incident %v: embeddings differ", inc.Key)
		}
		xa, xb := m.Features.Vector(inc, nil), loaded.Features.Vector(inc, nil)
		if !slices.Equal(m.Actions.Probabilities(xa, ea), loaded.Actions.Probabilities(xb, eb)) ||
			!slices.Equal(m.Actions.Scores(ea), loaded.Actions.Scores(eb)) {
			t.Fatalf("incident %v: action scores differ", inc.Key)
		}
	}
	if loaded.Threshold != m.Threshold || loaded.Calibration != m.Calibration {
		t.Error("threshold or calibration changed")
	}
}

func TestLoadRefusesOtherVersionsAndBrokenTrees(t *testing.T) {
	m, _, _ := trainedModel(t)
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(map[string]any){
		"model version": func(d map[string]any) { d["version"] = "triage-gbdt-v0" },
		"tree child":    func(d map[string]any) { firstTree(d)["left"].([]any)[0] = 0.0 },
		"tree feature":  func(d map[string]any) { firstTree(d)["feature"].([]any)[0] = 100000.0 },
		"vocabulary":    func(d map[string]any) { d["features"].(map[string]any)["categories"] = []any{"Zeta", "Alpha"} },
	} {
		var d map[string]any
		_ = json.Unmarshal(buf.Bytes(), &d)
		edit(d)
		b, _ := json.Marshal(d)
		if _, err := Load(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: a broken model loaded", name)
		}
	}
}

func firstTree(d map[string]any) map[string]any {
	return d["trees"].(map[string]any)["trees"].([]any)[0].(map[string]any)
}

func TestExplainNamesTheFeaturesThatMattered(t *testing.T) {
	m, _, test := trainedModel(t)
	p, why := m.Explain(test[0], 5)
	if len(why) == 0 || len(why) > 5 {
		t.Fatalf("%d reasons", len(why))
	}
	if p != m.Predict(test[0]) {
		t.Error("Explain and Predict disagree")
	}
	for i, r := range why {
		if r.Text == "" || r.Feature == "" || r.Contribution == 0 {
			t.Errorf("reason %+v", r)
		}
		if i > 0 && abs(r.Contribution) > abs(why[i-1].Contribution) {
			t.Error("reasons are not by decreasing weight")
		}
	}
	// Over many incidents, the organisation's own history and the detectors' history are among the
	// reasons given.
	seen := map[string]bool{}
	for _, inc := range test[:300] {
		_, why := m.Explain(inc, 3)
		for _, r := range why {
			seen[strings.SplitN(r.Text, ":", 2)[0]] = true
		}
	}
	t.Logf("reasons seen: %v", seen)
	if !seen["the organisation's own history"] && !seen["how this organisation graded these detectors before"] {
		t.Error("the organisation's history is never a reason")
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
