package learn

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/guided-response/guided/guide"
)

func TestEmbeddingIsUnitAndIgnoresGradeAndActions(t *testing.T) {
	train, test := synthSplit(t, 1000, 31)
	e := FitEmbedder(train)
	for _, inc := range test[:100] {
		v := e.Embed(inc, nil)
		if len(v) != EmbedDim {
			t.Fatalf("%d dimensions", len(v))
		}
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		if math.Abs(s-1) > 1e-4 {
			t.Fatalf("norm² %g", s)
		}
		c := *inc
		c.Grade, c.Actions, c.Key.IncidentID = "FalsePositive", []string{"x"}, 1
		if !slices.Equal(e.Embed(&c, nil), v) {
			t.Fatal("the embedding reads the grade, the actions or the incident ID")
		}
		if s := Cosine(v, v); math.Abs(float64(s)-1) > 1e-5 {
			t.Fatalf("self-similarity %g", s)
		}
	}
	// Incidents that share more values are more alike.
	a := test[0]
	b := *a
	b.Key.OrgID = -1
	b.Detectors = []guide.Count[int64]{{Value: -5, N: 1}}
	c := b
	c.AlertTitles = []guide.Count[int64]{{Value: -6, N: 1}}
	va, vb, vc := e.Embed(a, nil), e.Embed(&b, nil), e.Embed(&c, nil)
	if !(Cosine(va, vb) > Cosine(va, vc)) {
		t.Errorf("cos(a,b) %.3f should exceed cos(a,c) %.3f", Cosine(va, vb), Cosine(va, vc))
	}
}

func TestNearestIsExact(t *testing.T) {
	train, test := synthSplit(t, 1500, 32)
	e := FitEmbedder(train)
	corpus := &Vectors{Dim: e.Dim}
	for _, inc := range train {
		corpus.Append(e.Embed(inc, nil))
	}
	queries := &Vectors{Dim: e.Dim}
	for _, inc := range test[:40] {
		queries.Append(e.Embed(inc, nil))
	}
	all := NearestAll(queries, corpus, 5, 2)
	chunked := nearestChunked(queries, corpus.Len(), func(i int, dst []float32) []float32 {
		return append(dst[:0], corpus.At(i)...)
	}, 97, 5, 2)
	for q := range all {
		if !slices.Equal(all[q], chunked[q]) {
			t.Fatalf("query %d: chunked search %v, whole %v", q, chunked[q], all[q])
		}
	}
	for q := range queries.Len() {
		type scored struct {
			i int
			s float32
		}
		var ss []scored
		for i := range corpus.Len() {
			ss = append(ss, scored{i, dot(queries.At(q), corpus.At(i))})
		}
		slices.SortStableFunc(ss, func(a, b scored) int { return cmp.Compare(b.s, a.s) })
		for k, n := range all[q] {
			if n.Similarity != ss[k].s {
				t.Fatalf("query %d rank %d: similarity %g, brute force %g", q, k, n.Similarity, ss[k].s)
			}
		}
	}
}

func TestVectorsJSONRoundTrip(t *testing.T) {
	v := Vectors{Dim: 3, Data: []float32{1, -2.5, float32(math.Pi), 0, 1e-30, -0}}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var w Vectors
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if w.Dim != 3 || !slices.Equal(w.Data, v.Data) {
		t.Fatalf("%+v", w)
	}
	if err := json.Unmarshal([]byte(`{"dim":4,"data":"AAAAAAAAAAA="}`), &w); err == nil {
		t.Error("8 bytes read as vectors of 4 dimensions")
	}
}

func TestActionsComeFromNeighbours(t *testing.T) {
	train, _ := synthSplit(t, 3000, 33)
	e := FitEmbedder(train)
	// Votes only (no features: no classifiers).
	m, err := FitActions(e, nil, train, ActionOptions{K: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Labels) == 0 || m.Vectors.Len() != len(m.Labels) {
		t.Fatalf("%d labelled incidents, %d vectors", len(m.Labels), m.Vectors.Len())
	}
	// A labelled incident's own actions score high: it is its own nearest neighbour.
	hits, total := 0, 0
	for _, inc := range train {
		if len(inc.Actions) == 0 {
			continue
		}
		total++
		scores := m.Scores(e.Embed(inc, nil))
		if len(scores) > 0 && slices.Contains(inc.Actions, scores[0].Action) && scores[0].Voted {
			hits++
		}
		for i := 1; i < len(scores); i++ {
			if scores[i].Score > scores[i-1].Score {
				t.Fatal("scores not sorted")
			}
		}
	}
	if float64(hits) < 0.8*float64(total) {
		t.Errorf("the top action is one of the incident's own for %d of %d labelled incidents", hits, total)
	}
	var empty *ActionModel
	if empty.Scores(make([]float32, EmbedDim)) != nil || empty.Probabilities(nil, nil) != nil {
		t.Error("a nil model recommends")
	}
}

func TestActionClassifiersLearnFromEntityTypes(t *testing.T) {
	// In the synthetic incidents, a true positive with a machine gets "isolateresponse", with a user
	// "disableuser", with a file "quarantinefile": the classifiers must find it.
	train, test := synthSplit(t, 12000, 34)
	f := FitFeatures(train, FeatureOptions{})
	e := FitEmbedder(train)
	m, err := FitActions(e, f, train, ActionOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range m.Classifiers {
		if c != nil {
			n++
		}
	}
	if n == 0 {
		t.Fatal("no action has a classifier")
	}
	tp, predicted, actual := 0, 0, 0
	for _, inc := range test {
		if len(inc.Actions) == 0 {
			continue
		}
		rec := m.Recommend(f.Vector(inc, nil), e.Embed(inc, nil))
		predicted += len(rec)
		actual += len(inc.Actions)
		for _, a := range rec {
			if slices.Contains(inc.Actions, a) {
				tp++
			}
		}
	}
	prec, rec := float64(tp)/float64(max(predicted, 1)), float64(tp)/float64(max(actual, 1))
	t.Logf("%d classifiers; precision %.3f recall %.3f over %d actions", n, prec, rec, actual)
	if prec < 0.8 || rec < 0.6 {
		t.Errorf("action precision %.3f, recall %.3f", prec, rec)
	}
}
