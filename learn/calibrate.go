package learn

import (
	"cmp"
	"math"
	"slices"
)

// Calibration makes the model's probabilities honest: the class scores are divided by Temperature
// before the softmax (temperature scaling, Guo et al. 2017). Boosted trees trained to convergence are
// overconfident (T > 1 softens them); T is fit on held-out incidents. It keeps the ranking of the
// classes, so the predicted grade never changes, only how sure the model says it is.
type Calibration struct {
	Temperature float64 `json:"temperature"`
}

// Probabilities is the calibrated class probabilities of scores, into dst when large enough.
func (c Calibration) Probabilities(scores []float64, dst []float64) []float64 {
	if cap(dst) < len(scores) {
		dst = make([]float64, len(scores))
	}
	dst = dst[:len(scores)]
	t := c.Temperature
	if t <= 0 {
		t = 1
	}
	for i, s := range scores {
		dst[i] = s / t
	}
	return Softmax(dst)
}

// FitTemperature finds the temperature that minimises the log-loss of the held-out scores (the negative
// log-likelihood is convex in 1/T: a golden-section search over 1/T in [0.02, 20] finds it).
func FitTemperature(scores [][]float64, labels []int) Calibration {
	if len(scores) == 0 {
		return Calibration{Temperature: 1}
	}
	nll := func(beta float64) float64 {
		c := Calibration{Temperature: 1 / beta}
		buf := make([]float64, len(scores[0]))
		s := 0.0
		for i, z := range scores {
			p := c.Probabilities(z, buf)[labels[i]]
			s -= math.Log(math.Max(p, 1e-15))
		}
		return s / float64(len(scores))
	}
	// Golden-section search over log(beta).
	lo, hi := math.Log(0.02), math.Log(20.0)
	phi := (math.Sqrt(5) - 1) / 2
	a, b := hi-phi*(hi-lo), lo+phi*(hi-lo)
	fa, fb := nll(math.Exp(a)), nll(math.Exp(b))
	for range 60 {
		if fa < fb {
			hi, b, fb = b, a, fa
			a = hi - phi*(hi-lo)
			fa = nll(math.Exp(a))
		} else {
			lo, a, fa = a, b, fb
			b = lo + phi*(hi-lo)
			fb = nll(math.Exp(b))
		}
	}
	beta := math.Exp((lo + hi) / 2)
	if nll(beta) > nll(1) {
		beta = 1
	}
	return Calibration{Temperature: 1 / beta}
}

// LogLoss is the mean negative log-probability of the true classes.
func LogLoss(probs [][]float64, labels []int) float64 {
	if len(probs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for i, p := range probs {
		s -= math.Log(math.Max(p[labels[i]], 1e-15))
	}
	return s / float64(len(probs))
}

// Confidence is the most probable class and its probability.
func Confidence(p []float64) (class int, confidence float64) {
	for k, v := range p {
		if v > confidence {
			class, confidence = k, v
		}
	}
	return class, confidence
}

// Coverage is what answering only at or above a confidence threshold gives: the share of incidents
// answered and the precision of the answers (NaN when none is answered).
func Coverage(confidence []float64, correct []bool, threshold float64) (coverage, precision float64) {
	answered, right := 0, 0
	for i, c := range confidence {
		if c >= threshold {
			answered++
			if correct[i] {
				right++
			}
		}
	}
	if len(confidence) == 0 {
		return 0, math.NaN()
	}
	if answered == 0 {
		return 0, math.NaN()
	}
	return float64(answered) / float64(len(confidence)), float64(right) / float64(answered)
}

// ThresholdForPrecision is the lowest confidence threshold whose answers (confidence >= threshold)
// reach the target precision on these held-out predictions while answering at least minAnswered of
// them: the most coverage at that precision. ok is false when no threshold reaches it; the threshold is
// then 1 (answer nothing that is not certain).
func ThresholdForPrecision(confidence []float64, correct []bool, target float64, minAnswered int) (threshold float64, ok bool) {
	order := make([]int, len(confidence))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(confidence[b], confidence[a]) })
	threshold = 1
	right := 0
	for k, i := range order {
		if correct[i] {
			right++
		}
		// Only where the confidence drops: equal confidences are answered together.
		if k+1 < len(order) && confidence[order[k+1]] == confidence[i] {
			continue
		}
		if k+1 >= minAnswered && float64(right)/float64(k+1) >= target {
			threshold, ok = confidence[i], true
		}
	}
	return threshold, ok
}

// ClassWeights scale the calibrated probabilities before the suggested grade is chosen (the grade with
// the largest weighted probability): weights fit on held-out incidents for macro-F1 let a class the
// trees under-predict (FalsePositive, mostly) win its near ties. The confidence shown and compared with
// the threshold stays the calibrated probability of the suggested grade. The zero value weighs all
// classes alike.
type ClassWeights [NumClasses]float64

// Choose is the class with the largest weighted probability.
func (w ClassWeights) Choose(p []float64) int {
	if w == (ClassWeights{}) {
		c, _ := Confidence(p)
		return c
	}
	best, bestV := 0, math.Inf(-1)
	for k, v := range p {
		if v*w[k] > bestV {
			best, bestV = k, v*w[k]
		}
	}
	return best
}

// MacroF1 is the mean over classes of F1 of the choices against the labels.
func MacroF1(choices, labels []int) float64 {
	var tp, fp, fn [NumClasses]int
	for i, c := range choices {
		if c == labels[i] {
			tp[c]++
			continue
		}
		fp[c]++
		fn[labels[i]]++
	}
	s := 0.0
	for k := range NumClasses {
		if d := 2*tp[k] + fp[k] + fn[k]; d > 0 {
			s += 2 * float64(tp[k]) / float64(d)
		}
	}
	return s / NumClasses
}

// FitClassWeights chooses ClassWeights for macro-F1 on held-out probabilities and labels: coordinate
// ascent over the log-weights of all classes but the first (fixed at 1), on a grid of factors from
// e^-1 to e^1. Weights that do not beat equal weights by at least minGain are not taken: noise.
func FitClassWeights(probs [][]float64, labels []int) ClassWeights {
	const minGain = 0.002
	w := ClassWeights{1, 1, 1}
	choices := make([]int, len(probs))
	score := func(w ClassWeights) float64 {
		for i, p := range probs {
			choices[i] = w.Choose(p)
		}
		return MacroF1(choices, labels)
	}
	base := score(w)
	best := base
	for range 3 {
		improved := false
		for k := 1; k < NumClasses; k++ {
			for step := -20; step <= 20; step++ {
				c := w
				c[k] = math.Exp(float64(step) / 20)
				if s := score(c); s > best+1e-9 {
					best, w, improved = s, c, true
				}
			}
		}
		if !improved {
			break
		}
	}
	if best < base+minGain {
		return ClassWeights{}
	}
	return w
}
