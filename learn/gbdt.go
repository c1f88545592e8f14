package learn

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
)

// GBDTVersion names the tree model's format; Load refuses another.
const GBDTVersion = "gbdt-v1"

// GBDTParams configure TrainGBDT.
type GBDTParams struct {
	// Rounds is the most boosting rounds (each adds one tree per class).
	Rounds int
	// LearningRate shrinks each tree's values.
	LearningRate float64
	// MaxDepth limits the depth of a tree (a root-only tree has depth 0).
	MaxDepth int
	// MinSamplesLeaf is the fewest training rows in a leaf; MinHessian the least hessian sum.
	MinSamplesLeaf int
	MinHessian     float64
	// Lambda is the L2 regularisation of leaf values.
	Lambda float64
	// MinGain is the least loss reduction a split must bring.
	MinGain float64
	// RowSample is the share of rows each round trains on; FeatureSample the share of features each
	// tree may split on.
	RowSample, FeatureSample float64
	// GOSSTop and GOSSOther, when both set, replace RowSample by gradient-based one-side sampling (Ke et
	// al., LightGBM 2017): each round trains on the GOSSTop share of rows with the largest gradients
	// and a random GOSSOther share of the others, their gradients weighted up by
	// (1-GOSSTop)/GOSSOther. Far fewer rows per round for about the same trees.
	GOSSTop, GOSSOther float64
	// EarlyStopping stops when the validation loss has not improved by MinImprovement for that many
	// rounds and keeps the best round's trees (0: runs every round and keeps them all).
	EarlyStopping  int
	MinImprovement float64
	// Workers build histograms in parallel (features split between them); the result does not depend
	// on it.
	Workers int
	// Seed makes the row and feature sampling, hence the model, reproducible.
	Seed int64
}

// DefaultGBDTParams are the triage model's parameters.
func DefaultGBDTParams() GBDTParams {
	return GBDTParams{
		Rounds: 400, LearningRate: 0.1, MaxDepth: 6, MinSamplesLeaf: 20, MinHessian: 1e-3, Lambda: 1,
		RowSample: 0.5, FeatureSample: 0.5, EarlyStopping: 30, MinImprovement: 1e-4, Workers: 2, Seed: 1,
	}
}

// MaxBins is the most bins a feature is cut into.
const MaxBins = 255

// Binner cuts features into at most MaxBins bins at quantiles of a sample.
type Binner struct {
	// Edges[f] are the upper bounds of feature f's bins, increasing, the last +Inf: a value falls in
	// the first bin whose edge is at least the value.
	Edges [][]float32
}

// FitBinner finds the bins of each feature from sample rows (all of the same length).
func FitBinner(sample [][]float32, maxBins int) *Binner {
	if maxBins <= 1 || maxBins > MaxBins {
		maxBins = MaxBins
	}
	if len(sample) == 0 {
		return &Binner{}
	}
	nf := len(sample[0])
	b := &Binner{Edges: make([][]float32, nf)}
	col := make([]float32, len(sample))
	for f := range nf {
		for i, row := range sample {
			v := row[f]
			if v != v { // NaN sorts last
				v = float32(math.Inf(1))
			}
			col[i] = v
		}
		slices.Sort(col)
		b.Edges[f] = quantileEdges(col, maxBins)
	}
	return b
}

// quantileEdges cuts sorted values into at most maxBins bins of about equal counts, cutting only
// between distinct values, at their midpoints.
func quantileEdges(sorted []float32, maxBins int) []float32 {
	type run struct {
		v float32
		n int
	}
	var runs []run
	for _, v := range sorted {
		if len(runs) > 0 && runs[len(runs)-1].v == v {
			runs[len(runs)-1].n++
			continue
		}
		runs = append(runs, run{v, 1})
	}
	inf := float32(math.Inf(1))
	mid := func(a, b float32) float32 {
		if math.IsInf(float64(b), 1) {
			return a
		}
		return float32((float64(a) + float64(b)) / 2)
	}
	var edges []float32
	if len(runs) <= maxBins {
		for i := 0; i+1 < len(runs); i++ {
			edges = append(edges, mid(runs[i].v, runs[i+1].v))
		}
		return append(edges, inf)
	}
	remaining := len(sorted)
	acc := 0
	binsLeft := maxBins
	for i := 0; i+1 < len(runs) && binsLeft > 1; i++ {
		acc += runs[i].n
		remaining -= runs[i].n
		target := float64(acc+remaining) / float64(binsLeft)
		if float64(acc) >= target || float64(acc+runs[i+1].n) > 1.5*target {
			edges = append(edges, mid(runs[i].v, runs[i+1].v))
			binsLeft--
			acc = 0
		}
	}
	return append(edges, inf)
}

// Bin is the bin of value v of feature f.
func (b *Binner) Bin(f int, v float32) uint8 {
	e := b.Edges[f]
	i := sort.Search(len(e), func(i int) bool { return e[i] >= v })
	if i >= len(e) {
		i = len(e) - 1
	}
	return uint8(i)
}

// Dataset is binned training data, stored by column, with class labels.
type Dataset struct {
	binner *Binner
	n      int
	cols   [][]uint8
	labels []uint8
}

// NewDataset makes room for n rows binned by b.
func NewDataset(b *Binner, n int) *Dataset {
	d := &Dataset{binner: b, n: n, cols: make([][]uint8, len(b.Edges)), labels: make([]uint8, n)}
	for f := range d.cols {
		d.cols[f] = make([]uint8, n)
	}
	return d
}

// Set bins row i and sets its class.
func (d *Dataset) Set(i int, x []float32, class int) {
	for f, v := range x {
		d.cols[f][i] = d.binner.Bin(f, v)
	}
	d.labels[i] = uint8(class)
}

// Len is the number of rows.
func (d *Dataset) Len() int { return d.n }

// Tree is one regression tree of a GBDT, its nodes in arrays (node 0 the root).
type Tree struct {
	// Feature is the feature a node splits on, -1 at a leaf. Rows with x[Feature] <= Threshold go Left.
	Feature   []int32   `json:"feature"`
	Threshold []float32 `json:"threshold"`
	Left      []int32   `json:"left"`
	Right     []int32   `json:"right"`
	// Value is what a leaf adds to its class's score; at an inner node, what it would add were it a
	// leaf (the path attributions read the differences along the path).
	Value []float32 `json:"value"`
	// Gain is the loss reduction of a node's split (0 at leaves).
	Gain []float32 `json:"gain"`
	// bin is the split's bin (training only): bin <= bin goes left.
	bin []uint8
}

func (t *Tree) leaf(x []float32) int {
	n := int32(0)
	for t.Feature[n] >= 0 {
		if x[t.Feature[n]] <= t.Threshold[n] {
			n = t.Left[n]
		} else {
			n = t.Right[n]
		}
	}
	return int(n)
}

func (t *Tree) leafBinned(d *Dataset, i int) int {
	n := int32(0)
	for t.Feature[n] >= 0 {
		if d.cols[t.Feature[n]][i] <= t.bin[n] {
			n = t.Left[n]
		} else {
			n = t.Right[n]
		}
	}
	return int(n)
}

// GBDT is a multiclass gradient-boosted tree model: class k's score is Base[k] plus the values of the
// trees of class k (tree r·Classes+k of round r); the probabilities are the softmax of the scores.
type GBDT struct {
	Version     string    `json:"version"`
	Classes     int       `json:"classes"`
	NumFeatures int       `json:"numFeatures"`
	Base        []float64 `json:"base"`
	Trees       []Tree    `json:"trees"`
}

// Rounds is the number of boosting rounds the model kept.
func (m *GBDT) Rounds() int { return len(m.Trees) / m.Classes }

// Raw is the class scores of x (before the softmax).
func (m *GBDT) Raw(x []float32, dst []float64) []float64 {
	if cap(dst) < m.Classes {
		dst = make([]float64, m.Classes)
	}
	dst = dst[:m.Classes]
	copy(dst, m.Base)
	for i := range m.Trees {
		t := &m.Trees[i]
		dst[i%m.Classes] += float64(t.Value[t.leaf(x)])
	}
	return dst
}

// Predict is the class probabilities of x.
func (m *GBDT) Predict(x []float32) []float64 {
	return Softmax(m.Raw(x, nil))
}

// Contributions attributes class's score of x to the features (path attribution, as Saabas): each
// split on the path credits its feature with the change of the node value it caused. The entries sum,
// with the last one (the bias: the base score and the roots' values), to the class's score.
func (m *GBDT) Contributions(x []float32, class int, dst []float64) []float64 {
	n := m.NumFeatures + 1
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	clear(dst)
	dst[m.NumFeatures] = m.Base[class]
	for i := class; i < len(m.Trees); i += m.Classes {
		t := &m.Trees[i]
		node := int32(0)
		dst[m.NumFeatures] += float64(t.Value[0])
		for t.Feature[node] >= 0 {
			f := t.Feature[node]
			next := t.Right[node]
			if x[f] <= t.Threshold[node] {
				next = t.Left[node]
			}
			dst[f] += float64(t.Value[next] - t.Value[node])
			node = next
		}
	}
	return dst
}

// Importance is the total split gain of each feature.
func (m *GBDT) Importance() []float64 {
	imp := make([]float64, m.NumFeatures)
	for i := range m.Trees {
		t := &m.Trees[i]
		for n, f := range t.Feature {
			if f >= 0 {
				imp[f] += float64(t.Gain[n])
			}
		}
	}
	return imp
}

// Softmax turns scores into probabilities, in place.
func Softmax(z []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, v)
	}
	s := 0.0
	for i, v := range z {
		z[i] = math.Exp(v - mx)
		s += z[i]
	}
	for i := range z {
		z[i] /= s
	}
	return z
}

// GBDTInfo says how training went.
type GBDTInfo struct {
	// Rounds is the number of rounds kept (the best on validation); Ran the number run.
	Rounds, Ran int
	// ValidLoss is the validation multiclass log-loss at the kept round (NaN without validation).
	ValidLoss float64
}

// TrainGBDT fits a multiclass model to train, stopping early on val's log-loss when val is not nil.
// progress, when not nil, is called after each round with the validation loss (NaN without
// validation).
func TrainGBDT(train, val *Dataset, classes int, p GBDTParams, progress func(round int, validLoss float64)) (*GBDT, GBDTInfo, error) {
	if train == nil || train.n == 0 {
		return nil, GBDTInfo{}, errors.New("train gbdt: no training rows")
	}
	if classes < 2 {
		return nil, GBDTInfo{}, fmt.Errorf("train gbdt: %d classes: need at least 2", classes)
	}
	if p.Rounds <= 0 || p.LearningRate <= 0 || p.MaxDepth < 0 {
		return nil, GBDTInfo{}, fmt.Errorf("train gbdt: rounds %d, learning rate %g, max depth %d: all must be positive", p.Rounds, p.LearningRate, p.MaxDepth)
	}
	if p.MinSamplesLeaf < 1 {
		p.MinSamplesLeaf = 1
	}
	if p.RowSample <= 0 || p.RowSample > 1 {
		p.RowSample = 1
	}
	if p.FeatureSample <= 0 || p.FeatureSample > 1 {
		p.FeatureSample = 1
	}
	if p.Workers < 1 {
		p.Workers = 1
	}
	t := newTrainer(train, classes, p)
	m := &GBDT{Version: GBDTVersion, Classes: classes, NumFeatures: len(train.cols), Base: t.base}

	var valScores []float64
	if val != nil && val.n > 0 {
		valScores = make([]float64, val.n*classes)
		for i := range val.n {
			copy(valScores[i*classes:], t.base)
		}
	}
	info := GBDTInfo{ValidLoss: math.NaN()}
	// best is the lowest validation loss (its round's trees are kept); progress the last round that
	// beat the loss of the previous such round by MinImprovement (the patience counts from it).
	best, bestRound, lastLoss := math.Inf(1), -1, math.NaN()
	progressLoss, progressRound := math.Inf(1), -1
	for round := range p.Rounds {
		if t.goss() {
			t.allRows()
			t.gradients()
			t.gossSample()
		} else {
			t.sampleRows()
			t.gradients()
		}
		for k := range classes {
			tree := t.growTree(k)
			m.Trees = append(m.Trees, tree)
			t.scoreOutOfBag(&tree, k)
			if valScores != nil {
				addTree(val, &tree, valScores, classes, k, p.Workers)
			}
		}
		info.Ran = round + 1
		loss := math.NaN()
		if valScores != nil {
			loss = logLossScores(valScores, val.labels, classes)
			lastLoss = loss
			if loss < best {
				best, bestRound = loss, round
			}
			if loss < progressLoss-p.MinImprovement {
				progressLoss, progressRound = loss, round
			}
		}
		if progress != nil {
			progress(round, loss)
		}
		if valScores != nil && p.EarlyStopping > 0 && round-progressRound >= p.EarlyStopping {
			break
		}
	}
	info.Rounds = info.Ran
	info.ValidLoss = lastLoss
	if bestRound >= 0 && p.EarlyStopping > 0 {
		info.Rounds = bestRound + 1
		info.ValidLoss = best
		m.Trees = m.Trees[:info.Rounds*classes]
	}
	return m, info, nil
}

// addTree adds tree's values to the scores of class k of every row of d.
func addTree(d *Dataset, tree *Tree, scores []float64, classes, k, workers int) {
	parallelRange(d.n, workers, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			scores[i*classes+k] += float64(tree.Value[tree.leafBinned(d, i)])
		}
	})
}

// parallelRange splits [0,n) into contiguous chunks, one per worker.
func parallelRange(n, workers int, fn func(lo, hi int)) {
	if workers <= 1 || n < 4096 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

func logLossScores(scores []float64, labels []uint8, classes int) float64 {
	if len(labels) == 0 {
		return math.NaN()
	}
	buf := make([]float64, classes)
	s := 0.0
	for i, y := range labels {
		copy(buf, scores[i*classes:(i+1)*classes])
		p := Softmax(buf)[y]
		s -= math.Log(math.Max(p, 1e-15))
	}
	return s / float64(len(labels))
}

// trainer holds the state of one training run.
type trainer struct {
	p       GBDTParams
	d       *Dataset
	classes int
	base    []float64
	scores  []float64 // n × classes
	rng     *rand.Rand

	nbins  []int   // bins per feature
	common []uint8 // each feature's most common bin: its histogram entry is the node's total minus the others
	offset []int   // each feature's first bin in a histogram
	size   int     // a histogram's length: 3 float64 per bin (gradient, hessian, count)
	usable []int   // features with more than one bin

	bag, oob []int32     // this round's rows, and the others
	grad     [][]float64 // per class, per row
	hess     [][]float64
	feats    []int // the current tree's features, ascending

	// Per tree.
	g, h   []float64
	gg, hh []float64 // gradients gathered in a node's row order
	tmp    []int32
	pool   [][]float64
	idx    []int32
	tree   *Tree
	classK int

	mag, sorted []float64 // GOSS: gradient magnitudes
}

func newTrainer(d *Dataset, classes int, p GBDTParams) *trainer {
	t := &trainer{p: p, d: d, classes: classes, rng: rand.New(rand.NewPCG(uint64(p.Seed), 0x6a09e667f3bcc909))}
	nf := len(d.cols)
	t.nbins = make([]int, nf)
	t.offset = make([]int, nf)
	t.common = make([]uint8, nf)
	var counts [256]int
	for f := range nf {
		t.nbins[f] = len(d.binner.Edges[f])
		clear(counts[:])
		for _, b := range d.cols[f] {
			counts[b]++
		}
		for b := range counts {
			if counts[b] > counts[t.common[f]] {
				t.common[f] = uint8(b)
			}
		}
		t.offset[f] = t.size
		t.size += 3 * t.nbins[f]
		if t.nbins[f] > 1 {
			t.usable = append(t.usable, f)
		}
	}
	perClass := make([]float64, classes)
	for _, y := range d.labels {
		perClass[y]++
	}
	t.base = make([]float64, classes)
	for k := range classes {
		t.base[k] = math.Log((perClass[k] + 1) / (float64(d.n) + float64(classes)))
	}
	t.scores = make([]float64, d.n*classes)
	for i := range d.n {
		copy(t.scores[i*classes:], t.base)
	}
	t.grad = make([][]float64, classes)
	t.hess = make([][]float64, classes)
	for k := range classes {
		t.grad[k] = make([]float64, d.n)
		t.hess[k] = make([]float64, d.n)
	}
	t.gg = make([]float64, d.n)
	t.hh = make([]float64, d.n)
	t.tmp = make([]int32, d.n)
	return t
}

func (t *trainer) sampleRows() {
	t.bag, t.oob = t.bag[:0], t.oob[:0]
	for i := range t.d.n {
		if t.p.RowSample >= 1 || t.rng.Float64() < t.p.RowSample {
			t.bag = append(t.bag, int32(i))
		} else {
			t.oob = append(t.oob, int32(i))
		}
	}
	if len(t.bag) == 0 {
		t.bag = append(t.bag, t.oob[0])
		t.oob = t.oob[1:]
	}
}

func (t *trainer) goss() bool {
	return t.p.GOSSTop > 0 && t.p.GOSSOther > 0 && t.p.GOSSTop+t.p.GOSSOther < 1
}

func (t *trainer) allRows() {
	t.bag, t.oob = t.bag[:0], t.oob[:0]
	for i := range t.d.n {
		t.bag = append(t.bag, int32(i))
	}
}

// gossSample keeps the rows of largest gradients (summed over the classes) and a random share of the
// others, whose gradients and hessians it weighs up.
func (t *trainer) gossSample() {
	n := t.d.n
	if cap(t.mag) < n {
		t.mag = make([]float64, n)
		t.sorted = make([]float64, n)
	}
	mag, sorted := t.mag[:n], t.sorted[:n]
	for i := range n {
		m := 0.0
		for k := range t.classes {
			m += math.Abs(t.grad[k][i])
		}
		mag[i] = m
	}
	copy(sorted, mag)
	slices.Sort(sorted)
	top := int(t.p.GOSSTop * float64(n))
	cut := sorted[max(0, n-top)]
	w := (1 - t.p.GOSSTop) / t.p.GOSSOther
	// Each other row is drawn with the probability that yields GOSSOther·n of them.
	pOther := t.p.GOSSOther / (1 - t.p.GOSSTop)
	t.bag, t.oob = t.bag[:0], t.oob[:0]
	for i := range n {
		switch {
		case mag[i] >= cut:
			t.bag = append(t.bag, int32(i))
		case t.rng.Float64() < pOther:
			t.bag = append(t.bag, int32(i))
			for k := range t.classes {
				t.grad[k][i] *= w
				t.hess[k][i] *= w
			}
		default:
			t.oob = append(t.oob, int32(i))
		}
	}
}

// gradients computes the softmax loss's gradients and hessians of the bagged rows.
func (t *trainer) gradients() {
	K := t.classes
	factor := float64(K) / float64(K-1)
	parallelRange(len(t.bag), t.p.Workers, func(lo, hi int) {
		buf := make([]float64, K)
		for _, r := range t.bag[lo:hi] {
			copy(buf, t.scores[int(r)*K:(int(r)+1)*K])
			Softmax(buf)
			y := int(t.d.labels[r])
			for k, pk := range buf {
				g := pk
				if k == y {
					g--
				}
				t.grad[k][r] = g
				t.hess[k][r] = math.Max(factor*pk*(1-pk), 1e-6)
			}
		}
	})
}

func (t *trainer) growTree(k int) Tree {
	t.g, t.h, t.classK = t.grad[k], t.hess[k], k
	// The tree's features: a sample of the usable ones, ascending.
	t.feats = t.feats[:0]
	if t.p.FeatureSample >= 1 {
		t.feats = append(t.feats, t.usable...)
	} else {
		n := max(1, int(math.Round(t.p.FeatureSample*float64(len(t.usable)))))
		perm := t.rng.Perm(len(t.usable))
		for _, j := range perm[:n] {
			t.feats = append(t.feats, t.usable[j])
		}
		slices.Sort(t.feats)
	}
	tree := &Tree{}
	t.tree = tree
	idx := t.tmpIdx()
	hist := t.getHist()
	var G, H float64
	for _, r := range idx {
		G += t.g[r]
		H += t.h[r]
	}
	t.buildHist(idx, hist, G, H)
	t.grow(idx, hist, G, H, 0)
	t.putHist(hist)
	return *tree
}

// tmpIdx is a copy of the bag, partitioned in place as the tree grows.
func (t *trainer) tmpIdx() []int32 {
	t.idx = append(t.idx[:0], t.bag...)
	return t.idx
}

func (t *trainer) getHist() []float64 {
	if n := len(t.pool); n > 0 {
		h := t.pool[n-1]
		t.pool = t.pool[:n-1]
		return h
	}
	return make([]float64, t.size)
}

func (t *trainer) putHist(h []float64) { t.pool = append(t.pool, h) }

func (t *trainer) leafValue(G, H float64) float64 {
	return -G / (H + t.p.Lambda) * t.p.LearningRate
}

func (t *trainer) newNode(value float64) int32 {
	tr := t.tree
	tr.Feature = append(tr.Feature, -1)
	tr.Threshold = append(tr.Threshold, 0)
	tr.Left = append(tr.Left, -1)
	tr.Right = append(tr.Right, -1)
	tr.Value = append(tr.Value, float32(value))
	tr.Gain = append(tr.Gain, 0)
	tr.bin = append(tr.bin, 0)
	return int32(len(tr.Feature) - 1)
}

// split is a candidate split of a node.
type split struct {
	feature int
	bin     int
	gain    float64
	gl, hl  float64
	nl      float64
}

// grow makes the node for the rows idx whose histogram is hist (which it may overwrite) and its
// subtree; it returns the node's index.
func (t *trainer) grow(idx []int32, hist []float64, G, H float64, depth int) int32 {
	value := t.leafValue(G, H)
	node := t.newNode(value)
	n := len(idx)
	if depth >= t.p.MaxDepth || n < 2*t.p.MinSamplesLeaf {
		t.finishLeaf(idx, value)
		return node
	}
	s, ok := t.bestSplit(hist, G, H, float64(n))
	if !ok {
		t.finishLeaf(idx, value)
		return node
	}
	col := t.d.cols[s.feature]
	b := uint8(s.bin)
	nl := 0
	tmp := t.tmp[:0]
	for _, r := range idx {
		if col[r] <= b {
			idx[nl] = r
			nl++
		} else {
			tmp = append(tmp, r)
		}
	}
	copy(idx[nl:], tmp)
	left, right := idx[:nl], idx[nl:]

	// The smaller child's histogram is built; the larger's is the parent's minus it.
	small := t.getHist()
	smallIsLeft := len(left) <= len(right)
	if smallIsLeft {
		t.buildHist(left, small, s.gl, s.hl)
	} else {
		t.buildHist(right, small, G-s.gl, H-s.hl)
	}
	for _, f := range t.feats {
		lo, hi := t.offset[f], t.offset[f]+3*t.nbins[f]
		ph, sh := hist[lo:hi], small[lo:hi]
		for j := range ph {
			ph[j] -= sh[j]
		}
	}
	lh, rh := small, hist
	if !smallIsLeft {
		lh, rh = hist, small
	}
	tr := t.tree
	tr.Feature[node] = int32(s.feature)
	tr.Threshold[node] = t.d.binner.Edges[s.feature][s.bin]
	tr.bin[node] = b
	tr.Gain[node] = float32(s.gain)
	l := t.grow(left, lh, s.gl, s.hl, depth+1)
	r := t.grow(right, rh, G-s.gl, H-s.hl, depth+1)
	tr = t.tree
	tr.Left[node], tr.Right[node] = l, r
	t.putHist(small)
	return node
}

// finishLeaf adds the leaf's value to its rows' scores.
func (t *trainer) finishLeaf(idx []int32, value float64) {
	K, k := t.classes, t.classK
	for _, r := range idx {
		t.scores[int(r)*K+k] += float64(float32(value))
	}
}

// scoreOutOfBag adds the tree's values to the scores of the rows this round did not train on.
func (t *trainer) scoreOutOfBag(tree *Tree, k int) {
	K := t.classes
	oob := t.oob
	parallelRange(len(oob), t.p.Workers, func(lo, hi int) {
		for _, r := range oob[lo:hi] {
			t.scores[int(r)*K+k] += float64(tree.Value[tree.leafBinned(t.d, int(r))])
		}
	})
}

// bestSplit is the split of largest gain over the tree's features (ties: the first feature, the lowest
// bin), and whether there is one worth making.
func (t *trainer) bestSplit(hist []float64, G, H, n float64) (split, bool) {
	lambda := t.p.Lambda
	parent := G * G / (H + lambda)
	minLeaf := float64(t.p.MinSamplesLeaf)
	best := split{gain: math.Max(t.p.MinGain, 1e-12)}
	found := false
	for _, f := range t.feats {
		h := hist[t.offset[f] : t.offset[f]+3*t.nbins[f]]
		var gl, hl, nl float64
		for b := 0; b+1 < t.nbins[f]; b++ {
			gl += h[3*b]
			hl += h[3*b+1]
			nl += h[3*b+2]
			if nl < minLeaf || hl < t.p.MinHessian {
				continue
			}
			nr, hr := n-nl, H-hl
			if nr < minLeaf {
				break
			}
			if hr < t.p.MinHessian {
				continue
			}
			gr := G - gl
			gain := gl*gl/(hl+lambda) + gr*gr/(hr+lambda) - parent
			if gain > best.gain {
				best = split{feature: f, bin: b, gain: gain, gl: gl, hl: hl, nl: nl}
				found = true
			}
		}
	}
	return best, found
}

// buildHist fills hist (for the tree's features) from the rows idx, whose gradients and hessians sum to
// G and H, the features split between the workers: each feature's histogram is summed by one goroutine
// in row order, so the result does not depend on the number of workers.
func (t *trainer) buildHist(idx []int32, hist []float64, G, H float64) {
	gg, hh := t.gg[:len(idx)], t.hh[:len(idx)]
	for i, r := range idx {
		gg[i] = t.g[r]
		hh[i] = t.h[r]
	}
	feats := t.feats
	workers := t.p.Workers
	if workers <= 1 || len(idx)*len(feats) < 1<<15 {
		for _, f := range feats {
			t.histFeature(f, idx, gg, hh, hist, G, H)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; j < len(feats); j += workers {
				t.histFeature(feats[j], idx, gg, hh, hist, G, H)
			}
		}()
	}
	wg.Wait()
}

// histFeature sums one feature's histogram. Rows in the feature's most common bin are skipped (most
// features are shares that are mostly 0): that bin gets the node's totals minus the other bins'.
func (t *trainer) histFeature(f int, idx []int32, gg, hh, hist []float64, G, H float64) {
	h := hist[t.offset[f] : t.offset[f]+3*t.nbins[f]]
	clear(h)
	col := t.d.cols[f]
	common := t.common[f]
	for i, r := range idx {
		b := col[r]
		if b == common {
			continue
		}
		k := 3 * int(b)
		h[k] += gg[i]
		h[k+1] += hh[i]
		h[k+2]++
	}
	var g, hs, n float64
	for k := 0; k < len(h); k += 3 {
		g += h[k]
		hs += h[k+1]
		n += h[k+2]
	}
	c := 3 * int(common)
	h[c], h[c+1], h[c+2] = G-g, H-hs, float64(len(idx))-n
}
