package learn

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/guided-response/guided/guide"
)

// ModelVersion names the triage model bundle; the triage card shows it, Load refuses another.
const ModelVersion = "triage-gbdt-v1"

// DefaultThreshold is the product's default confidence threshold: below it the triage card says it is
// unsure rather than suggest a grade. Each trained model also carries the threshold that reached
// DefaultTargetPrecision on its own held-out incidents (Model.Threshold), which is the better choice
// when a model is at hand; this is the value for when it is not. Measured on generated GUIDE-format
// files (the real GUIDE is not available here): the models' own thresholds for 0.92 came out between
// 0.84 and 0.90, and 0.90 answered at a precision of 0.92 to 0.94 on the 1M- and 9.5M-row files split
// by incident or by organisation (0.91 on the 100k-row file split by incident, where the validation
// set is small).
const DefaultThreshold = 0.90

// DefaultTargetPrecision is the answered precision the model's own threshold is chosen for.
const DefaultTargetPrecision = 0.92

// Model is the trained triage bundle: features, trees, calibration and threshold, plus the
// similar-incident embedding and the action recommendations. It is safe for concurrent use.
type Model struct {
	Version     string      `json:"version"`
	Features    *Features   `json:"features"`
	Trees       *GBDT       `json:"trees"`
	Calibration Calibration `json:"calibration"`
	// ClassWeights choose the suggested grade from the calibrated probabilities (fit for macro-F1 on
	// held-out incidents; absent in a model that did not need them).
	ClassWeights ClassWeights `json:"classWeights"`
	// Threshold is the confidence below which the model abstains, chosen on held-out incidents for
	// TargetPrecision (DefaultThreshold when it could not be).
	Threshold       float64       `json:"threshold"`
	TargetPrecision float64       `json:"targetPrecision"`
	Embedder        *Embedder     `json:"embedder"`
	Actions         *ActionModel  `json:"actions"`
	Trained         TrainingStats `json:"trained"`
}

// TrainingStats describe what a model learnt from.
type TrainingStats struct {
	Incidents     int     `json:"incidents"`
	Fit           int     `json:"fit"`
	Validation    int     `json:"validation"`
	Rounds        int     `json:"rounds"`
	ValidLogLoss  float64 `json:"validLogLoss"`
	CalibLogLoss  float64 `json:"calibratedLogLoss"`
	ValidCoverage float64 `json:"validCoverage"`
	ValidAnswered float64 `json:"validAnsweredPrecision"`
	Seconds       float64 `json:"seconds"`
}

// TrainOptions configure Train. The zero value uses the defaults.
type TrainOptions struct {
	// Seed makes the splits, folds and sampling reproducible.
	Seed int64
	// ValidShare is the share of the incidents held out for early stopping, calibration and the
	// threshold (default 0.15).
	ValidShare float64
	// ByOrg holds out whole organisations for validation and draws the out-of-fold encodings by
	// organisation: for a model that will meet organisations it has not seen.
	ByOrg bool
	// Folds of the out-of-fold target encodings (default 5).
	Folds int
	// NewOrgShare of the training incidents are encoded as if their organisation were new (see
	// OOFOptions; default 0.1, negative for none).
	NewOrgShare float64
	// Features, GBDT: see FeatureOptions, GBDTParams (zero GBDT: DefaultGBDTParams with Seed).
	Features FeatureOptions
	GBDT     GBDTParams
	// TargetPrecision is the answered precision the threshold is chosen for (default 0.92).
	TargetPrecision float64
	// BinSample is how many incidents the feature bins are cut from (default 200,000).
	BinSample int
	// ActionNeighbours and ActionMinVote configure the action model's votes (defaults 10 and 0.5).
	ActionNeighbours int
	ActionMinVote    float64
	// Log, when set, receives progress as a message and key/value pairs (hclog's Info fits).
	Log func(msg string, args ...any)
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.ValidShare <= 0 || o.ValidShare >= 1 {
		o.ValidShare = 0.15
	}
	if o.Folds < 2 {
		o.Folds = 5
	}
	if o.NewOrgShare == 0 {
		o.NewOrgShare = 0.1
	}
	if o.NewOrgShare < 0 {
		o.NewOrgShare = 0
	}
	if o.GBDT.Rounds == 0 {
		o.GBDT = DefaultGBDTParams()
		o.GBDT.Seed = o.Seed
	}
	if o.TargetPrecision <= 0 {
		o.TargetPrecision = DefaultTargetPrecision
	}
	if o.BinSample <= 0 {
		o.BinSample = 200_000
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	return o
}

// minTrain is the fewest graded incidents Train accepts.
const minTrain = 20

// Train learns a model from graded incidents (others are used by the embedding only). A share of them
// is held out: the trees stop early on it, and the calibration and threshold are fit on it; the rest
// trains the trees on out-of-fold target encodings.
func Train(incidents []*guide.Incident, opts TrainOptions) (*Model, error) {
	start := time.Now()
	opts = opts.withDefaults()
	var graded []*guide.Incident
	for _, inc := range incidents {
		if GradeIndex(inc.Grade) >= 0 {
			graded = append(graded, inc)
		}
	}
	if len(graded) < minTrain {
		return nil, fmt.Errorf("train: %d graded incidents: need at least %d", len(graded), minTrain)
	}
	by := SplitByIncident
	if opts.ByOrg {
		by = SplitByOrg
	}
	fit, valid := Split(graded, by, 1-opts.ValidShare, opts.Seed^0x5eed)
	if len(fit) == 0 || len(valid) == 0 {
		// Too few organisations to hold any out: fall back to holding out incidents.
		fit, valid = Split(graded, SplitByIncident, 1-opts.ValidShare, opts.Seed^0x5eed)
	}
	opts.Log("training the triage model", "incidents", len(graded), "fit", len(fit), "validation", len(valid))

	feats := FitFeatures(fit, opts.Features)
	nf := feats.Len()

	// Bins from a sample of the out-of-fold vectors.
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0xb1a5))
	var subset []int
	if len(fit) > opts.BinSample {
		subset = rng.Perm(len(fit))[:opts.BinSample]
		slices.Sort(subset)
	}
	var sample [][]float32
	oof := OOFOptions{Folds: opts.Folds, Seed: opts.Seed, ByOrg: opts.ByOrg, NewOrgShare: opts.NewOrgShare}
	if opts.ByOrg {
		oof.NewOrgShare = 0 // every incident's organisation is new already
	}
	feats.OutOfFoldSubset(fit, subset, oof, func(_ int, x []float32) {
		sample = append(sample, slices.Clone(x))
	})
	binner := FitBinner(sample, MaxBins)
	sample = nil

	trainDS := NewDataset(binner, len(fit))
	feats.OutOfFold(fit, oof, func(i int, x []float32) {
		trainDS.Set(i, x, GradeIndex(fit[i].Grade))
	})
	validDS := NewDataset(binner, len(valid))
	x := make([]float32, nf)
	for i, inc := range valid {
		validDS.Set(i, feats.Vector(inc, x), GradeIndex(inc.Grade))
	}
	opts.Log("features built", "features", nf, "seconds", time.Since(start).Seconds(), "heap_mib", heapMiB())

	trees, info, err := TrainGBDT(trainDS, validDS, NumClasses, opts.GBDT, func(round int, loss float64) {
		if round%25 == 0 {
			opts.Log("boosting", "round", round, "valid_logloss", loss)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	trainDS, validDS = nil, nil
	opts.Log("trees trained", "rounds", info.Rounds, "ran", info.Ran, "valid_logloss", info.ValidLoss, "seconds", time.Since(start).Seconds(), "heap_mib", heapMiB())

	m := &Model{Version: ModelVersion, Features: feats, Trees: trees, Calibration: Calibration{Temperature: 1}, TargetPrecision: opts.TargetPrecision}
	scores := make([][]float64, len(valid))
	labels := make([]int, len(valid))
	for i, inc := range valid {
		scores[i] = trees.Raw(feats.Vector(inc, x), nil)
		labels[i] = GradeIndex(inc.Grade)
	}
	m.Calibration = FitTemperature(scores, labels)
	conf := make([]float64, len(valid))
	correct := make([]bool, len(valid))
	probs := make([][]float64, len(valid))
	for i, s := range scores {
		probs[i] = m.Calibration.Probabilities(s, nil)
		c, p := Confidence(probs[i])
		conf[i], correct[i] = p, c == labels[i]
	}
	threshold, ok := ThresholdForPrecision(conf, correct, opts.TargetPrecision, max(10, len(valid)/100))
	if !ok {
		threshold = DefaultThreshold
	}
	m.Threshold = threshold
	m.ClassWeights = FitClassWeights(probs, labels)
	cov, prec := Coverage(conf, correct, threshold)
	m.Trained = TrainingStats{
		Incidents: len(graded), Fit: len(fit), Validation: len(valid), Rounds: info.Rounds,
		ValidLogLoss: finite(info.ValidLoss), CalibLogLoss: finite(LogLoss(probs, labels)),
		ValidCoverage: cov, ValidAnswered: finite(prec),
	}
	opts.Log("calibrated", "temperature", m.Calibration.Temperature, "class_weights", m.ClassWeights[:], "threshold", threshold, "valid_coverage", cov,
		"valid_answered_precision", prec, "seconds", time.Since(start).Seconds())

	m.Embedder = FitEmbedder(incidents)
	m.Actions, err = FitActions(m.Embedder, feats, incidents, ActionOptions{K: opts.ActionNeighbours, MinVote: opts.ActionMinVote,
		Seed: opts.Seed, Workers: opts.GBDT.Workers})
	if err != nil {
		return nil, fmt.Errorf("train actions: %w", err)
	}
	m.Trained.Seconds = time.Since(start).Seconds()
	opts.Log("action model trained", "labelled", len(m.Actions.Labels), "actions", len(m.Actions.Names), "seconds", m.Trained.Seconds)
	return m, nil
}

// finite is x, or 0 for NaN and infinities (JSON has neither).
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// heapMiB is the live heap, for the progress log.
func heapMiB() float64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return math.Round(float64(ms.HeapAlloc) / (1 << 20))
}

// Prediction is the model's suggestion for an incident.
type Prediction struct {
	// Probabilities of the grades, in guide.Grades order, calibrated.
	Probabilities [NumClasses]float64 `json:"probabilities"`
	Grade         guide.Grade         `json:"grade"`
	Confidence    float64             `json:"confidence"`
}

// Answer is the predicted grade and true when the confidence reaches the threshold; below it the model
// abstains ("unsure") and ok is false.
func (p Prediction) Answer(threshold float64) (g guide.Grade, ok bool) {
	return p.Grade, p.Confidence >= threshold
}

// Predict scores an incident: features, trees, calibration.
func (m *Model) Predict(inc *guide.Incident) Prediction {
	x := m.Features.Vector(inc, nil)
	return m.predictVector(x)
}

func (m *Model) predictVector(x []float32) Prediction {
	var raw, probs [NumClasses]float64
	m.Calibration.Probabilities(m.Trees.Raw(x, raw[:0]), probs[:0])
	p := Prediction{Probabilities: probs}
	c := m.ClassWeights.Choose(probs[:])
	p.Grade, p.Confidence = guide.Grades[c], probs[c]
	return p
}

// Reason is a feature's part in a prediction: its value and how much it moved the predicted grade's
// score (positive: towards it).
type Reason struct {
	Feature      string  `json:"feature"`
	Value        float64 `json:"value"`
	Contribution float64 `json:"contribution"`
	// Text says it for a person.
	Text string `json:"text"`
}

// Explain is the prediction and the k features that moved the predicted grade's score most (largest
// absolute path attributions first): the triage card's "why".
func (m *Model) Explain(inc *guide.Incident, k int) (Prediction, []Reason) {
	x := m.Features.Vector(inc, nil)
	p := m.predictVector(x)
	class := GradeIndex(p.Grade)
	contrib := m.Trees.Contributions(x, class, nil)
	order := make([]int, m.Trees.NumFeatures)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(math.Abs(contrib[b]), math.Abs(contrib[a])) })
	var out []Reason
	for _, f := range order {
		if len(out) == k || contrib[f] == 0 {
			break
		}
		r := Reason{Feature: m.Features.Names[f], Value: float64(x[f]), Contribution: contrib[f]}
		r.Text = m.Features.describe(f, r.Value, r.Contribution, p.Grade)
		out = append(out, r)
	}
	return p, out
}

// describe says a feature's part for a person.
func (f *Features) describe(i int, value, contribution float64, g guide.Grade) string {
	name := f.Names[i]
	dir := "towards"
	if contribution < 0 {
		dir = "against"
	}
	if rest, ok := strings.CutPrefix(name, "te_"); ok {
		for t := range numTables {
			if tail, ok := strings.CutPrefix(rest, tableNames[t]+"_"); ok {
				what := tableDescriptions[t]
				for _, grade := range guide.Grades {
					if stat, ok := strings.CutPrefix(tail, string(grade)); ok {
						stat = strings.TrimPrefix(stat, "_")
						if stat == "" {
							stat = "share"
						}
						return fmt.Sprintf("%s: %s %.0f%% %s (%s %s)", what, stat, 100*value, grade, dir, g)
					}
				}
				return fmt.Sprintf("%s: %s %.2f (%s %s)", what, strings.ReplaceAll(tail, "_", " "), value, dir, g)
			}
		}
	}
	if col, val, ok := strings.Cut(name, "="); ok {
		if what, ok := shareDescriptions[col]; ok {
			return fmt.Sprintf("%.0f%% of the evidence has %s %s (%s %s)", 100*value, what, val, dir, g)
		}
	}
	return fmt.Sprintf("%s = %.3g (%s %s)", name, value, dir, g)
}

// shareDescriptions name the columns of the share features for a person.
var shareDescriptions = map[string]string{
	"category": "category", "entity": "entity type", "role": "evidence role", "suspicion": "suspicion level",
	"verdict": "last verdict", "technique": "MITRE technique",
}

// RecommendActions are the actions the model recommends for an incident and the scores of every
// candidate (see ActionModel).
func (m *Model) RecommendActions(inc *guide.Incident) (recommended []string, scores []ActionScore) {
	x := m.Features.Vector(inc, nil)
	v := m.Embedder.Embed(inc, nil)
	return m.Actions.Recommend(x, v), m.Actions.Probabilities(x, v)
}

// Save writes the model as one JSON document.
func (m *Model) Save(w io.Writer) error {
	if err := json.NewEncoder(w).Encode(m); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	return nil
}

// Load reads a model Save wrote, checking its versions and shape.
func Load(r io.Reader) (*Model, error) {
	var m Model
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	return &m, nil
}

func (m *Model) check() error {
	switch {
	case m.Version != ModelVersion:
		return fmt.Errorf("version %q: this build reads %q; retrain the model", m.Version, ModelVersion)
	case m.Features == nil || m.Trees == nil || m.Embedder == nil || m.Actions == nil:
		return errors.New("features, trees, embedder or actions missing")
	case m.Features.Version != FeaturesVersion:
		return fmt.Errorf("features version %q: this build reads %q", m.Features.Version, FeaturesVersion)
	case m.Trees.Version != GBDTVersion:
		return fmt.Errorf("trees version %q: this build reads %q", m.Trees.Version, GBDTVersion)
	case m.Embedder.Version != EmbedVersion || m.Embedder.Dim <= 0:
		return fmt.Errorf("embedder version %q (dim %d): this build reads %q", m.Embedder.Version, m.Embedder.Dim, EmbedVersion)
	case m.Actions.Version != ActionsVersion:
		return fmt.Errorf("actions version %q: this build reads %q", m.Actions.Version, ActionsVersion)
	case m.Trees.Classes != NumClasses || len(m.Trees.Base) != NumClasses:
		return fmt.Errorf("trees have %d classes: want %d", m.Trees.Classes, NumClasses)
	}
	// The feature names are rebuilt from the vocabularies: a layout that differs is another version.
	if names := m.Features.names(); !slices.Equal(names, m.Features.Names) || m.Trees.NumFeatures != len(names) {
		return fmt.Errorf("the feature layout (%d features, trees over %d) is not this build's", len(m.Features.Names), m.Trees.NumFeatures)
	}
	for _, vocab := range [][]string{m.Features.Categories, m.Features.EntityTypes, m.Features.EvidenceRoles,
		m.Features.SuspicionLevels, m.Features.LastVerdicts, m.Features.Techniques} {
		if !slices.IsSorted(vocab) {
			return errors.New("a vocabulary is not sorted")
		}
	}
	for t := range m.Features.Encoder.Tables {
		if m.Features.Encoder.Tables[t] == nil {
			m.Features.Encoder.Tables[t] = map[uint64]GradeCounts{}
		}
	}
	if m.Embedder.IDF == nil {
		m.Embedder.IDF = map[uint64]float32{}
	}
	for i := range m.Trees.Trees {
		if err := m.Trees.Trees[i].check(m.Trees.NumFeatures); err != nil {
			return fmt.Errorf("tree %d: %w", i, err)
		}
	}
	if len(m.Trees.Trees)%m.Trees.Classes != 0 {
		return fmt.Errorf("%d trees are not whole rounds of %d classes", len(m.Trees.Trees), m.Trees.Classes)
	}
	a := m.Actions
	if a.Vectors.Len() != len(a.Labels) || (a.Vectors.Len() > 0 && a.Vectors.Dim != m.Embedder.Dim) {
		return errors.New("action vectors and labels do not match")
	}
	if len(a.Classifiers) != len(a.Names) {
		return errors.New("action classifiers and names do not match")
	}
	for i, c := range a.Classifiers {
		if c == nil {
			continue
		}
		if c.Version != GBDTVersion || c.Classes != 2 || len(c.Base) != 2 || c.NumFeatures != m.Trees.NumFeatures || len(c.Trees)%2 != 0 {
			return fmt.Errorf("action classifier %d is not a two-class model over the features", i)
		}
		for j := range c.Trees {
			if err := c.Trees[j].check(c.NumFeatures); err != nil {
				return fmt.Errorf("action classifier %d, tree %d: %w", i, j, err)
			}
		}
	}
	for _, ls := range a.Labels {
		for _, l := range ls {
			if l < 0 || int(l) >= len(a.Names) {
				return fmt.Errorf("action label %d out of range", l)
			}
		}
	}
	return nil
}

// check verifies that a tree's arrays agree and every path ends at a leaf.
func (t *Tree) check(features int) error {
	n := len(t.Feature)
	if n == 0 || len(t.Threshold) != n || len(t.Left) != n || len(t.Right) != n || len(t.Value) != n || len(t.Gain) != n {
		return errors.New("node arrays of different lengths")
	}
	for i, f := range t.Feature {
		if f < 0 {
			continue
		}
		// Children come after their parent, so every path is finite.
		if int(f) >= features || t.Left[i] <= int32(i) || t.Right[i] <= int32(i) || int(t.Left[i]) >= n || int(t.Right[i]) >= n {
			return fmt.Errorf("node %d: bad feature or children", i)
		}
	}
	return nil
}
