package learn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/guided-response/guided/guide"
)

// BaselineParams are scikit-learn's GradientBoostingClassifier defaults: 100 rounds of depth-3 trees
// at learning rate 0.1 over every row and feature, no early stopping.
func BaselineParams(seed int64) GBDTParams {
	return GBDTParams{Rounds: 100, LearningRate: 0.1, MaxDepth: 3, MinSamplesLeaf: 1, MinHessian: 1e-3, Lambda: 0,
		RowSample: 1, FeatureSample: 1, Workers: 2, Seed: seed}
}

// BaselineReport is the reference model's evaluation (see EvaluateBaseline).
type BaselineReport struct {
	MacroF1  float64                 `json:"macro_f1"`
	PerClass map[string]ClassMetrics `json:"per_class"`
	Accuracy float64                 `json:"accuracy"`
	// CoverageAtPrecision is the share of test incidents answered at the lowest confidence threshold
	// whose answers still reach TargetPrecision (threshold chosen on the test incidents themselves, as
	// the reference was reported).
	CoverageAtPrecision float64 `json:"coverage_at_precision"`
	ThresholdAtTarget   float64 `json:"threshold_at_precision"`
	TargetPrecision     float64 `json:"target_precision"`
	Features            int     `json:"features"`
}

// baselineIDs are the identifiers the reference takes as plain numbers: what scikit-learn on per-incident
// aggregates sees of them.
var baselineIDs = []string{"org_id", "top_detector_id", "top_alert_title_id"}

// EvaluateBaseline trains and scores the reference the issue measured on real GUIDE data, so that any
// GUIDE-format file gives both figures side by side: gradient boosting with scikit-learn's defaults
// (BaselineParams) on per-incident aggregates without history — the shape and value-share entries of
// the triage features (no target statistics) and the organisation, the most frequent detector and
// alert title as plain numbers — its softmax probabilities taken as they are (no calibration).
func EvaluateBaseline(train, test []*guide.Incident, target float64, seed int64) (BaselineReport, error) {
	var fit []*guide.Incident
	for _, inc := range train {
		if GradeIndex(inc.Grade) >= 0 {
			fit = append(fit, inc)
		}
	}
	if len(fit) < minTrain {
		return BaselineReport{}, fmt.Errorf("baseline: %d graded training incidents: need at least %d", len(fit), minTrain)
	}
	f := FitFeatures(fit, FeatureOptions{})
	plain := slices.IndexFunc(f.Names, func(n string) bool { return strings.HasPrefix(n, "te_") })
	if plain < 0 {
		plain = f.Len()
	}
	nf := plain + len(baselineIDs)
	var full []float32
	vector := func(inc *guide.Incident, dst []float32) []float32 {
		full = f.Vector(inc, full)
		dst = append(dst[:0], full[:plain]...)
		return append(dst, float32(inc.Key.OrgID), float32(topValue(inc.Detectors)), float32(topValue(inc.AlertTitles)))
	}
	// Bins from an evenly strided sample of at most 200,000 incidents.
	stride := max(1, len(fit)/200_000)
	var sample [][]float32
	for i := 0; i < len(fit); i += stride {
		sample = append(sample, vector(fit[i], nil))
	}
	ds := NewDataset(FitBinner(sample, MaxBins), len(fit))
	sample = nil
	x := make([]float32, 0, nf)
	for i, inc := range fit {
		x = vector(inc, x)
		ds.Set(i, x, GradeIndex(inc.Grade))
	}
	trees, _, err := TrainGBDT(ds, nil, NumClasses, BaselineParams(seed), nil)
	if err != nil {
		return BaselineReport{}, fmt.Errorf("baseline: %w", err)
	}
	var choices, labels []int
	var conf []float64
	var correct []bool
	for _, inc := range test {
		y := GradeIndex(inc.Grade)
		if y < 0 {
			continue
		}
		x = vector(inc, x)
		c, p := Confidence(trees.Predict(x))
		choices, labels = append(choices, c), append(labels, y)
		conf, correct = append(conf, p), append(correct, c == y)
	}
	r := BaselineReport{TargetPrecision: target, Features: nf}
	r.PerClass, r.MacroF1, r.Accuracy = triageMetrics(choices, labels)
	r.ThresholdAtTarget, r.CoverageAtPrecision = coverageAtPrecision(conf, correct, target)
	return r, nil
}

// coverageAtPrecision is the lowest threshold whose answers reach the target precision (chosen on
// these very confidences) and the share it answers; 0 and 0 when no threshold does.
func coverageAtPrecision(conf []float64, correct []bool, target float64) (threshold, coverage float64) {
	threshold, ok := ThresholdForPrecision(conf, correct, target, max(10, len(conf)/100))
	if !ok {
		return 0, 0
	}
	coverage, _ = Coverage(conf, correct, threshold)
	return threshold, coverage
}

// topValue is the value most rows carry (the smallest on a tie), 0 for none.
func topValue(list []guide.Count[int64]) int64 {
	var best guide.Count[int64]
	for _, c := range list {
		if c.N > best.N {
			best = c
		}
	}
	return best.Value
}

// triageMetrics are per-grade precision, recall and F1, their macro average and the accuracy of the
// choices against the labels (class indexes in guide.Grades order).
func triageMetrics(choices, labels []int) (perClass map[string]ClassMetrics, macroF1, accuracy float64) {
	var confusion [NumClasses][NumClasses]int
	for i, c := range choices {
		confusion[labels[i]][c]++
	}
	perClass = map[string]ClassMetrics{}
	right := 0
	for k, g := range guide.Grades {
		tp, fp, fn := confusion[k][k], 0, 0
		right += tp
		for j := range NumClasses {
			if j != k {
				fp += confusion[j][k]
				fn += confusion[k][j]
			}
		}
		cm := ClassMetrics{Support: tp + fn}
		cm.Precision = ratio(tp, tp+fp)
		cm.Recall = ratio(tp, tp+fn)
		if cm.Precision+cm.Recall > 0 {
			cm.F1 = 2 * cm.Precision * cm.Recall / (cm.Precision + cm.Recall)
		}
		perClass[string(g)] = cm
		macroF1 += cm.F1 / NumClasses
	}
	return perClass, macroF1, ratio(right, len(labels))
}
