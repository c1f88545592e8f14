package learn

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/guided-response/guided/guide"
)

// SplitBy says how incidents are split between training and test.
type SplitBy string

// Splits: by incident (stratified by grade: an organisation's history is on both sides, as for a
// product that keeps learning from its tenants) or by organisation (no organisation on both sides: how
// the model does for a tenant it has never seen).
const (
	SplitByIncident SplitBy = "incident"
	SplitByOrg      SplitBy = "org"
)

// ParseSplitBy reads "incident" or "org".
func ParseSplitBy(s string) (SplitBy, error) {
	switch SplitBy(s) {
	case SplitByIncident, SplitByOrg:
		return SplitBy(s), nil
	}
	return "", fmt.Errorf("split by %q: give incident or org", s)
}

// Split divides incidents into a training share and the rest, reproducibly for a seed; both keep the
// input order. By incident, each grade (and the ungraded) is split in the share; by organisation,
// whole organisations in random order go to training until it holds the share of the incidents.
func Split(incs []*guide.Incident, by SplitBy, trainShare float64, seed int64) (train, test []*guide.Incident) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5b117))
	inTrain := make([]bool, len(incs))
	switch by {
	case SplitByOrg:
		count := map[int64]int{}
		for _, inc := range incs {
			count[inc.Key.OrgID]++
		}
		orgs := make([]int64, 0, len(count))
		for o := range count {
			orgs = append(orgs, o)
		}
		slices.Sort(orgs)
		rng.Shuffle(len(orgs), func(i, j int) { orgs[i], orgs[j] = orgs[j], orgs[i] })
		want := int(math.Round(trainShare * float64(len(incs))))
		chosen := map[int64]bool{}
		n := 0
		for _, o := range orgs {
			if n >= want {
				break
			}
			// Leave the last organisation out when taking it overshoots by more than it fills.
			if n > 0 && n+count[o]-want > want-n {
				continue
			}
			chosen[o] = true
			n += count[o]
		}
		for i, inc := range incs {
			inTrain[i] = chosen[inc.Key.OrgID]
		}
	default:
		strata := map[guide.Grade][]int{}
		for i, inc := range incs {
			g := inc.Grade
			if !g.Valid() {
				g = ""
			}
			strata[g] = append(strata[g], i)
		}
		for _, g := range append([]guide.Grade{""}, guide.Grades...) {
			idx := strata[g]
			rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			k := int(math.Round(trainShare * float64(len(idx))))
			for _, i := range idx[:k] {
				inTrain[i] = true
			}
		}
	}
	for i, inc := range incs {
		if inTrain[i] {
			train = append(train, inc)
		} else {
			test = append(test, inc)
		}
	}
	return train, test
}

// ClassMetrics are one grade's precision, recall and F1 on the test incidents.
type ClassMetrics struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// Report is an offline evaluation. Its JSON keys are the eval command's contract.
type Report struct {
	MacroF1           float64                 `json:"macro_f1"`
	PerClass          map[string]ClassMetrics `json:"per_class"`
	Accuracy          float64                 `json:"accuracy"`
	LogLoss           float64                 `json:"log_loss"`
	Threshold         float64                 `json:"threshold"`
	Coverage          float64                 `json:"coverage"`
	AnsweredPrecision float64                 `json:"answered_precision"`
	// At the model's own threshold (chosen on its validation incidents for the target precision).
	ModelThreshold         float64 `json:"model_threshold"`
	ModelCoverage          float64 `json:"model_coverage"`
	ModelAnsweredPrecision float64 `json:"model_answered_precision"`
	// CoverageAtPrecision is the share answered at the lowest threshold whose answers on the test
	// incidents reach the model's target precision (an after-the-fact threshold, as the issue's
	// reference was reported: comparable with the baseline's, not a deployable setting).
	CoverageAtPrecision  float64 `json:"coverage_at_precision"`
	ThresholdAtPrecision float64 `json:"threshold_at_precision"`
	// Baseline is the reference model's evaluation on the same split, when asked for.
	Baseline *BaselineReport `json:"baseline,omitempty"`

	SimilarPrecisionAt5 float64 `json:"similar_precision_at_5"`
	SimilarQueries      int     `json:"similar_queries"`
	SimilarSeconds      float64 `json:"similar_seconds"`

	ActionPrecision float64 `json:"action_precision"`
	ActionRecall    float64 `json:"action_recall"`
	ActionIncidents int     `json:"action_incidents"`

	NTrain        int      `json:"n_train"`
	NTest         int      `json:"n_test"`
	NTrainOrgs    int      `json:"n_train_orgs"`
	NTestOrgs     int      `json:"n_test_orgs"`
	SharedOrgs    int      `json:"shared_orgs"`
	Rounds        int      `json:"rounds"`
	Temperature   float64  `json:"temperature"`
	TrainSeconds  float64  `json:"train_seconds"`
	ScoreMicros   float64  `json:"score_micros_per_incident"`
	ModelVersion  string   `json:"model_version"`
	FeatureCount  int      `json:"features"`
	TopImportance []string `json:"top_features"`
}

// EvalOptions configure Evaluate.
type EvalOptions struct {
	// Threshold is the confidence at or above which a prediction is an answer (0: DefaultThreshold).
	Threshold float64
	// SimilarQueries caps how many test incidents the similar-incident precision is measured on (a
	// seeded sample; 0: all). Each query is an exact scan of every graded training incident.
	SimilarQueries int
	// Workers share the similar-incident search (default 2).
	Workers int
	Seed    int64
}

// Evaluate scores the graded test incidents with the model and measures the triage (per-grade
// precision/recall/F1, macro-F1, coverage and answered precision at the threshold), the similar-incident
// embedding (precision@5: the share of the 5 nearest graded training incidents, by exact cosine search,
// that have the test incident's grade) and the action recommendations (micro precision and recall over
// the test incidents that have action labels).
func Evaluate(m *Model, train, test []*guide.Incident, opts EvalOptions) Report {
	if opts.Threshold <= 0 {
		opts.Threshold = DefaultThreshold
	}
	if opts.Workers < 1 {
		opts.Workers = 2
	}
	r := Report{PerClass: map[string]ClassMetrics{}, Threshold: opts.Threshold, ModelThreshold: m.Threshold,
		Rounds: m.Trees.Rounds(), Temperature: m.Calibration.Temperature, ModelVersion: m.Version, FeatureCount: m.Features.Len()}
	r.NTrain, r.NTest = len(train), len(test)
	trainOrgs, testOrgs := map[int64]bool{}, map[int64]bool{}
	for _, inc := range train {
		trainOrgs[inc.Key.OrgID] = true
	}
	for _, inc := range test {
		if !testOrgs[inc.Key.OrgID] && trainOrgs[inc.Key.OrgID] {
			r.SharedOrgs++
		}
		testOrgs[inc.Key.OrgID] = true
	}
	r.NTrainOrgs, r.NTestOrgs = len(trainOrgs), len(testOrgs)
	r.TrainSeconds = m.Trained.Seconds
	imp := m.Trees.Importance()
	order := make([]int, len(imp))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(imp[b], imp[a]) })
	for _, f := range order[:min(10, len(order))] {
		r.TopImportance = append(r.TopImportance, m.Features.Names[f])
	}

	// Triage.
	var conf []float64
	var correct []bool
	var probs [][]float64
	var labels, choices []int
	start := time.Now()
	x := make([]float32, m.Features.Len())
	for _, inc := range test {
		y := GradeIndex(inc.Grade)
		if y < 0 {
			continue
		}
		p := m.predictVector(m.Features.Vector(inc, x))
		c := GradeIndex(p.Grade)
		choices = append(choices, c)
		conf = append(conf, p.Confidence)
		correct = append(correct, c == y)
		probs = append(probs, slices.Clone(p.Probabilities[:]))
		labels = append(labels, y)
	}
	if len(labels) > 0 {
		r.ScoreMicros = float64(time.Since(start).Microseconds()) / float64(len(labels))
	}
	r.PerClass, r.MacroF1, r.Accuracy = triageMetrics(choices, labels)
	r.LogLoss = LogLoss(probs, labels)
	r.Coverage, r.AnsweredPrecision = Coverage(conf, correct, opts.Threshold)
	r.ModelCoverage, r.ModelAnsweredPrecision = Coverage(conf, correct, m.Threshold)
	r.ThresholdAtPrecision, r.CoverageAtPrecision = coverageAtPrecision(conf, correct, m.TargetPrecision)

	// Similar incidents: exact search of graded test incidents against the graded training incidents,
	// whose embeddings are made chunk by chunk (memory stays that of one chunk, whatever the corpus).
	start = time.Now()
	var v []float32
	var queryIdx []int
	for i, inc := range test {
		if GradeIndex(inc.Grade) >= 0 {
			queryIdx = append(queryIdx, i)
		}
	}
	if opts.SimilarQueries > 0 && len(queryIdx) > opts.SimilarQueries {
		rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x51a))
		rng.Shuffle(len(queryIdx), func(i, j int) { queryIdx[i], queryIdx[j] = queryIdx[j], queryIdx[i] })
		queryIdx = queryIdx[:opts.SimilarQueries]
		slices.Sort(queryIdx)
	}
	queries := &Vectors{Dim: m.Embedder.Dim}
	for _, i := range queryIdx {
		v = m.Embedder.Embed(test[i], v)
		queries.Append(v)
	}
	var corpus []*guide.Incident
	var corpusGrades []int
	for _, inc := range train {
		if y := GradeIndex(inc.Grade); y >= 0 {
			corpus = append(corpus, inc)
			corpusGrades = append(corpusGrades, y)
		}
	}
	tops := nearestChunked(queries, len(corpus), func(i int, dst []float32) []float32 {
		return m.Embedder.Embed(corpus[i], dst)
	}, 1<<15, 5, opts.Workers)
	if len(corpusGrades) > 0 && queries.Len() > 0 {
		hits, total := 0, 0
		for q, ns := range tops {
			y := GradeIndex(test[queryIdx[q]].Grade)
			for _, n := range ns {
				total++
				if corpusGrades[n.Index] == y {
					hits++
				}
			}
		}
		r.SimilarPrecisionAt5 = ratio(hits, total)
		r.SimilarQueries = queries.Len()
	}
	r.SimilarSeconds = time.Since(start).Seconds()

	// Actions.
	tp, predicted, actual := 0, 0, 0
	for _, inc := range test {
		if len(inc.Actions) == 0 {
			continue
		}
		r.ActionIncidents++
		v = m.Embedder.Embed(inc, v)
		rec := m.Actions.Recommend(m.Features.Vector(inc, x), v)
		predicted += len(rec)
		actual += len(inc.Actions)
		for _, a := range rec {
			if slices.Contains(inc.Actions, a) {
				tp++
			}
		}
	}
	r.ActionPrecision = ratio(tp, predicted)
	r.ActionRecall = ratio(tp, actual)
	for _, f := range []*float64{&r.LogLoss, &r.AnsweredPrecision, &r.ModelAnsweredPrecision} {
		// JSON has no NaN: nothing answered (or nothing to score) reads as 0.
		if math.IsNaN(*f) || math.IsInf(*f, 0) {
			*f = 0
		}
	}
	return r
}

// nearestChunked is NearestAll over a corpus of n vectors made by embed, chunk by chunk: the memory of
// one chunk, the same neighbours.
func nearestChunked(queries *Vectors, n int, embed func(i int, dst []float32) []float32, chunkSize, k, workers int) [][]Neighbour {
	tops := make([][]Neighbour, queries.Len())
	chunk := &Vectors{Dim: queries.Dim}
	var v []float32
	for lo := 0; lo < n && queries.Len() > 0; lo += chunkSize {
		chunk.Data = chunk.Data[:0]
		for i := lo; i < min(lo+chunkSize, n); i++ {
			v = embed(i, v)
			chunk.Append(v)
		}
		for q, ns := range NearestAll(queries, chunk, k, workers) {
			for _, nb := range ns {
				tops[q] = insertTop(tops[q], k, lo+nb.Index, nb.Similarity)
			}
		}
	}
	return tops
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
