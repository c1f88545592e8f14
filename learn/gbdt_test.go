package learn

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/guided-response/guided/guide"
)

// checkerboard is a multiclass XOR: the class of (x0, x1) is (⌊3·x0⌋ + ⌊3·x1⌋) mod 3, which no single
// feature predicts (each alone is at chance); the other features are noise.
func checkerboard(n int, seed uint64) ([][]float32, []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	X := make([][]float32, n)
	y := make([]int, n)
	for i := range X {
		x := make([]float32, 6)
		for j := range x {
			x[j] = rng.Float32()
		}
		X[i] = x
		y[i] = (int(3*x[0]) + int(3*x[1])) % 3
	}
	return X, y
}

func dataset(b *Binner, X [][]float32, y []int) *Dataset {
	d := NewDataset(b, len(X))
	for i := range X {
		d.Set(i, X[i], y[i])
	}
	return d
}

func trainCheckerboard(t *testing.T, p GBDTParams) (*GBDT, [][]float32, []int) {
	t.Helper()
	X, y := checkerboard(6000, 1)
	vX, vy := checkerboard(2000, 2)
	b := FitBinner(X, MaxBins)
	m, info, err := TrainGBDT(dataset(b, X, y), dataset(b, vX, vy), 3, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rounds == 0 || info.Rounds > info.Ran {
		t.Fatalf("kept %d of %d rounds", info.Rounds, info.Ran)
	}
	return m, vX, vy
}

func TestGBDTLearnsMulticlassXOR(t *testing.T) {
	p := DefaultGBDTParams()
	p.Rounds = 300
	m, _, _ := trainCheckerboard(t, p)
	tX, ty := checkerboard(3000, 3)
	right := 0
	for i, x := range tX {
		if c, _ := Confidence(m.Predict(x)); c == ty[i] {
			right++
		}
	}
	if acc := float64(right) / float64(len(tX)); acc < 0.95 {
		t.Errorf("accuracy %.3f on the checkerboard, want >= 0.95", acc)
	}
	// The noise features carry (almost) nothing.
	imp := m.Importance()
	if imp[0]+imp[1] < 5*(imp[2]+imp[3]+imp[4]+imp[5]) {
		t.Errorf("importance %v: the signal features should dominate", imp)
	}
}

func TestGBDTIsDeterministic(t *testing.T) {
	p := DefaultGBDTParams()
	p.Rounds = 40
	p.Seed = 11
	encode := func(m *GBDT) []byte {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, _, _ := trainCheckerboard(t, p)
	b, _, _ := trainCheckerboard(t, p)
	if !bytes.Equal(encode(a), encode(b)) {
		t.Fatal("two trainings with the same seed differ")
	}
	p.Workers = 1
	c, _, _ := trainCheckerboard(t, p)
	if !bytes.Equal(encode(a), encode(c)) {
		t.Fatal("one worker and two give different models")
	}
	p.Workers = 2
	p.Seed = 12
	d, _, _ := trainCheckerboard(t, p)
	if bytes.Equal(encode(a), encode(d)) {
		t.Fatal("another seed gives the same model: the sampling ignores the seed")
	}
}

func TestGBDTContributionsSumToScore(t *testing.T) {
	p := DefaultGBDTParams()
	p.Rounds = 30
	m, vX, _ := trainCheckerboard(t, p)
	for _, x := range vX[:50] {
		raw := m.Raw(x, nil)
		for k := range 3 {
			c := m.Contributions(x, k, nil)
			sum := 0.0
			for _, v := range c {
				sum += v
			}
			if math.Abs(sum-raw[k]) > 1e-4 {
				t.Fatalf("class %d: contributions sum to %g, score %g", k, sum, raw[k])
			}
			if c[2] != 0 && c[3] != 0 && c[4] != 0 && c[5] != 0 && math.Abs(c[0])+math.Abs(c[1]) < math.Abs(c[2]) {
				t.Fatalf("noise outweighs signal: %v", c)
			}
		}
	}
}

func TestGBDTStopsEarly(t *testing.T) {
	// Labels independent of the features: validation loss stops improving at once.
	rng := rand.New(rand.NewPCG(5, 5))
	X := make([][]float32, 3000)
	y := make([]int, len(X))
	for i := range X {
		X[i] = []float32{rng.Float32(), rng.Float32()}
		y[i] = rng.IntN(3)
	}
	b := FitBinner(X, MaxBins)
	p := DefaultGBDTParams()
	p.EarlyStopping = 10
	_, info, err := TrainGBDT(dataset(b, X[:2000], y[:2000]), dataset(b, X[2000:], y[2000:]), 3, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Ran >= p.Rounds || info.Rounds > 15 {
		t.Errorf("ran %d rounds, kept %d, on noise", info.Ran, info.Rounds)
	}
}

func TestQuantileEdges(t *testing.T) {
	// Few distinct values: one bin each.
	e := quantileEdges([]float32{0, 0, 0, 1, 1, 2}, 255)
	if !slices.Equal(e[:2], []float32{0.5, 1.5}) || !math.IsInf(float64(e[2]), 1) {
		t.Fatalf("edges %v", e)
	}
	// Many: at most 255, increasing, each bin holding about its share.
	vals := make([]float32, 100_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range vals {
		vals[i] = float32(rng.NormFloat64())
	}
	slices.Sort(vals)
	e = quantileEdges(vals, 255)
	if len(e) > 255 || len(e) < 200 || !slices.IsSorted(e) {
		t.Fatalf("%d edges", len(e))
	}
	b := &Binner{Edges: [][]float32{e}}
	counts := make([]int, len(e))
	for _, v := range vals {
		counts[b.Bin(0, v)]++
	}
	if slices.Max(counts) > 4*len(vals)/len(e) {
		t.Errorf("a bin holds %d of %d values", slices.Max(counts), len(vals))
	}
	// A value is in the bin whose edge bounds it, consistent with the trees' thresholds.
	for _, v := range vals[:1000] {
		k := b.Bin(0, v)
		if v > e[k] || (k > 0 && v <= e[k-1]) {
			t.Fatalf("%g in bin %d (%g, %g]", v, k, e[max(k, 1)-1], e[k])
		}
	}
}

func TestTrainUsesOutOfFoldEncodings(t *testing.T) {
	// Grades at random, and detectors and titles shared by pairs of incidents: an incident's own grade
	// is the only thing its in-sample encodings would "predict", and on held-out incidents (whose
	// encodings carry their partner's grade) a model trained on them would be confidently wrong. Out of
	// fold, the encodings carry the partner's grade during training too, and the model stays near
	// chance.
	rng := rand.New(rand.NewPCG(9, 9))
	incs := synthIncidents(synthOptions{Incidents: 4000, Orgs: 1, Detectors: 30, Seed: 9})
	for i := range incs {
		incs[i].Grade = guide.Grades[rng.IntN(3)]
		incs[i].Detectors = []guide.Count[int64]{{Value: int64(1_000_000 + i/2), N: incs[i].Rows}}
		incs[i].AlertTitles = []guide.Count[int64]{{Value: int64(2_000_000 + i/2), N: incs[i].Rows}}
		incs[i].SuspicionLevel, incs[i].LastVerdicts = nil, nil
	}
	p := DefaultGBDTParams()
	p.Rounds, p.EarlyStopping = 40, 0
	m, err := Train(Pointers(incs), TrainOptions{Seed: 1, GBDT: p})
	if err != nil {
		t.Fatal(err)
	}
	if l := m.Trained.ValidLogLoss; l > math.Log(3)+0.05 {
		t.Errorf("validation log-loss %.3f on random grades, chance is %.3f: training saw its own grades", l, math.Log(3))
	}
	// Nothing reaches the target precision on random grades: the model falls back to the default
	// threshold and still saves.
	if m.Threshold != DefaultThreshold {
		t.Errorf("threshold %.3f on random grades", m.Threshold)
	}
	if err := m.Save(io.Discard); err != nil {
		t.Error(err)
	}
}
