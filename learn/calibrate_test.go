package learn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestCalibrationLowersHeldOutLogLoss(t *testing.T) {
	// An overconfident model: many deep rounds, no early stopping, on labels with 25% noise.
	noisy := func(n int, seed uint64) ([][]float32, []int) {
		X, y := checkerboard(n, seed)
		rng := rand.New(rand.NewPCG(seed, 99))
		for i := range y {
			if rng.Float64() < 0.25 {
				y[i] = rng.IntN(3)
			}
		}
		return X, y
	}
	X, y := noisy(4000, 1)
	b := FitBinner(X, MaxBins)
	p := DefaultGBDTParams()
	p.Rounds, p.EarlyStopping, p.MinSamplesLeaf, p.MaxDepth, p.LearningRate = 150, 0, 2, 8, 0.3
	m, _, err := TrainGBDT(dataset(b, X, y), nil, 3, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Fit the temperature on one held-out half, measure on the other.
	hX, hy := noisy(4000, 2)
	scores := make([][]float64, len(hX))
	for i, x := range hX {
		scores[i] = m.Raw(x, nil)
	}
	fitS, fitY, testS, testY := scores[:2000], hy[:2000], scores[2000:], hy[2000:]
	c := FitTemperature(fitS, fitY)
	if c.Temperature <= 1 {
		t.Fatalf("temperature %.3f: an overconfident model needs T > 1", c.Temperature)
	}
	raw := make([][]float64, len(testS))
	cal := make([][]float64, len(testS))
	for i, s := range testS {
		raw[i] = Calibration{Temperature: 1}.Probabilities(s, nil)
		cal[i] = c.Probabilities(s, nil)
		if rc, _ := Confidence(raw[i]); func() int { k, _ := Confidence(cal[i]); return k }() != rc {
			t.Fatal("calibration changed the predicted class")
		}
	}
	before, after := LogLoss(raw, testY), LogLoss(cal, testY)
	t.Logf("held-out log-loss %.4f -> %.4f at T=%.3f", before, after, c.Temperature)
	if after >= before {
		t.Errorf("calibrated log-loss %.4f is not below the raw %.4f", after, before)
	}
}

func TestFitTemperatureRecoversAKnownTemperature(t *testing.T) {
	// Labels drawn from softmax(z/2): the fitted temperature is about 2.
	rng := rand.New(rand.NewPCG(3, 3))
	var scores [][]float64
	var labels []int
	for range 20000 {
		z := []float64{3 * rng.NormFloat64(), 3 * rng.NormFloat64(), 3 * rng.NormFloat64()}
		p := Calibration{Temperature: 2}.Probabilities(z, nil)
		r, y := rng.Float64(), 2
		if r < p[0] {
			y = 0
		} else if r < p[0]+p[1] {
			y = 1
		}
		scores = append(scores, z)
		labels = append(labels, y)
	}
	if c := FitTemperature(scores, labels); math.Abs(c.Temperature-2) > 0.1 {
		t.Errorf("temperature %.3f, want about 2", c.Temperature)
	}
}

func TestThresholdForPrecision(t *testing.T) {
	conf := []float64{0.99, 0.95, 0.9, 0.9, 0.8, 0.7, 0.6, 0.5}
	correct := []bool{true, true, true, false, true, false, true, false}
	// Prefixes: 1/1, 2/2, (0.9 tie) 3/4, 4/5, 4/6, 5/7, 5/8.
	th, ok := ThresholdForPrecision(conf, correct, 0.8, 1)
	if !ok || th != 0.8 {
		t.Errorf("threshold %v %v, want 0.8 (4 of 5 right)", th, ok)
	}
	th, ok = ThresholdForPrecision(conf, correct, 0.92, 1)
	if !ok || th != 0.95 {
		t.Errorf("threshold %v %v, want 0.95", th, ok)
	}
	if _, ok := ThresholdForPrecision(conf, correct, 0.92, 3); ok {
		t.Error("no threshold answers 3 at 0.92, yet one was found")
	}
	cov, prec := Coverage(conf, correct, 0.8)
	if cov != 5.0/8 || prec != 0.8 {
		t.Errorf("coverage %v precision %v", cov, prec)
	}
	p := Prediction{Grade: "TruePositive", Confidence: 0.75}
	if _, ok := p.Answer(0.8); ok {
		t.Error("answered below the threshold")
	}
	if g, ok := p.Answer(0.7); !ok || g != "TruePositive" {
		t.Error("abstained above the threshold")
	}
}

// A model whose probabilities under-rate a class loses that class's near ties; weights fit for
// macro-F1 give them back, and weights that do not help are not taken.
func TestFitClassWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var probs [][]float64
	var labels []int
	for range 3000 {
		y := rng.IntN(NumClasses)
		p := []float64{0.2, 0.2, 0.2}
		p[y] += 0.3 + 0.3*rng.Float64()
		if y == 2 {
			// Class 2 is under-rated: it mostly loses to class 1.
			p[2] -= 0.25
			p[1] += 0.1
		}
		s := p[0] + p[1] + p[2]
		for k := range p {
			p[k] /= s
		}
		probs, labels = append(probs, p), append(labels, y)
	}
	choose := func(w ClassWeights) float64 {
		c := make([]int, len(probs))
		for i, p := range probs {
			c[i] = w.Choose(p)
		}
		return MacroF1(c, labels)
	}
	before := choose(ClassWeights{})
	w := FitClassWeights(probs, labels)
	after := choose(w)
	if w == (ClassWeights{}) || w[2] <= w[1] || after < before+0.05 {
		t.Errorf("weights %v: macro-F1 %.3f -> %.3f", w, before, after)
	}
	// Calibrated, well-ranked probabilities need no weights.
	for i, y := range labels {
		probs[i] = []float64{0.1, 0.1, 0.1}
		probs[i][y] = 0.8
	}
	if w := FitClassWeights(probs, labels); w != (ClassWeights{}) {
		t.Errorf("weights %v for a perfect ranking", w)
	}
	if got := MacroF1([]int{0, 1, 2, 2}, []int{0, 1, 2, 1}); math.Abs(got-(1+2.0/3+2.0/3)/3) > 1e-9 {
		t.Errorf("MacroF1 = %v", got)
	}
}
