// Package clustered makes synthetic embeddings shaped like incident embeddings, for testing and
// benchmarking the similar index: unit vectors drawn from a mixture of Gaussians on the sphere, plus
// a little uniform noise. Uniform random vectors would be both unrealistic (real embeddings gather
// around kinds of incident) and a needlessly hard case for any approximate search.
//
// The mixture has two levels, as incidents do: families (phishing, malware, ...) whose clusters
// (campaigns, variants) sit near each other, so neighbouring clusters overlap. Clusters differ in
// size (log-normal weights, the largest some hundreds of times the smallest) and in spread, and each
// spreads more along a few directions of its own than along the rest.
package clustered

import (
	"math"
	"math/rand/v2"
)

// Spec describes a mixture. Zero fields take the defaults noted.
type Spec struct {
	Dim      int     // dimensions; required
	Clusters int     // clusters; 0 means 2,000
	Families int     // groups of nearby clusters; 0 means Clusters/20
	Noise    float64 // share of vectors drawn uniformly from the sphere; 0 means 0.02, <0 none
	// Spread scales every cluster's spread: 0 means 1; 2 makes clusters overlap much more (a harder
	// case: the 10th nearest neighbour is then at cosine ~0.6 rather than ~0.85).
	Spread float64
	Seed   uint64
}

// Generator draws vectors from one mixture. It is not safe for concurrent use.
type Generator struct {
	dim     int
	noise   float64
	rng     *rand.Rand
	cum     []float64   // cumulative cluster weights, normalised to end at 1
	centers [][]float64 // unit cluster centres
	spread  []float64   // isotropic spread of each cluster
	axes    [][]float64 // per cluster, axesPer directions of extra spread, axesPer*dim floats
}

const axesPer = 4

// New draws the mixture's families, clusters, weights and spreads from spec.Seed.
func New(spec Spec) *Generator {
	if spec.Dim < 1 {
		panic("clustered.New: Dim must be at least 1")
	}
	if spec.Clusters == 0 {
		spec.Clusters = 2000
	}
	if spec.Families == 0 {
		spec.Families = max(1, spec.Clusters/20)
	}
	if spec.Spread == 0 {
		spec.Spread = 1
	}
	switch {
	case spec.Noise == 0:
		spec.Noise = 0.02
	case spec.Noise < 0:
		spec.Noise = 0
	}
	rng := rand.New(rand.NewPCG(spec.Seed, 0xc1a55e5))
	g := &Generator{dim: spec.Dim, noise: spec.Noise, rng: rng}
	families := make([][]float64, spec.Families)
	for f := range families {
		families[f] = g.sphere()
	}
	sd := 1 / math.Sqrt(float64(spec.Dim))
	total := 0.0
	for range spec.Clusters {
		fam := families[rng.IntN(len(families))]
		// A cluster centre sits around its family's: at tau 0.5 cosine ~0.9, at 1.3 ~0.6.
		tau := 0.5 + 0.8*rng.Float64()
		c := make([]float64, spec.Dim)
		for j := range c {
			c[j] = fam[j] + tau*sd*rng.NormFloat64()
		}
		unit(c)
		g.centers = append(g.centers, c)
		// Spread 0.2 to 0.7: members at cosine ~0.98 to ~0.8 from their centre.
		g.spread = append(g.spread, spec.Spread*(0.2+0.5*rng.Float64()))
		ax := make([]float64, 0, axesPer*spec.Dim)
		for range axesPer {
			ax = append(ax, g.sphere()...)
		}
		g.axes = append(g.axes, ax)
		total += math.Exp(1.2 * rng.NormFloat64())
		g.cum = append(g.cum, total)
	}
	for i := range g.cum {
		g.cum[i] /= total
	}
	return g
}

// sphere is a unit vector drawn uniformly.
func (g *Generator) sphere() []float64 {
	v := make([]float64, g.dim)
	for j := range v {
		v[j] = g.rng.NormFloat64()
	}
	unit(v)
	return v
}

func unit(v []float64) {
	var ss float64
	for _, x := range v {
		ss += x * x
	}
	inv := 1 / math.Sqrt(ss)
	for j := range v {
		v[j] *= inv
	}
}

// Next draws one unit vector into dst (Dim long) and returns dst, or a new slice when dst is nil.
func (g *Generator) Next(dst []float32) []float32 {
	if dst == nil {
		dst = make([]float32, g.dim)
	}
	if g.rng.Float64() < g.noise {
		for j, x := range g.sphere() {
			dst[j] = float32(x)
		}
		return dst
	}
	u := g.rng.Float64()
	c := 0
	for lo, hi := 0, len(g.cum)-1; lo <= hi; {
		mid := (lo + hi) / 2
		if g.cum[mid] < u {
			lo = mid + 1
		} else {
			c, hi = mid, mid-1
		}
	}
	sd := 1 / math.Sqrt(float64(g.dim))
	s := g.spread[c]
	v := make([]float64, g.dim)
	for j := range v {
		v[j] = g.centers[c][j] + s*sd*g.rng.NormFloat64()
	}
	// Along each of the cluster's own axes, as much spread again as in all other directions together.
	for a := range axesPer {
		w := s * 0.5 * g.rng.NormFloat64()
		for j, x := range g.axes[c][a*g.dim : (a+1)*g.dim] {
			v[j] += w * x
		}
	}
	unit(v)
	for j, x := range v {
		dst[j] = float32(x)
	}
	return dst
}

// Vectors draws n vectors into one slice, n*Dim floats.
func (g *Generator) Vectors(n int) []float32 {
	out := make([]float32, n*g.dim)
	for i := range n {
		g.Next(out[i*g.dim : (i+1)*g.dim])
	}
	return out
}
