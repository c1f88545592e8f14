package clustered

import (
	"math"
	"slices"
	"testing"
)

func TestSameSeedSameVectors(t *testing.T) {
	a := New(Spec{Dim: 16, Clusters: 50, Seed: 3}).Vectors(200)
	b := New(Spec{Dim: 16, Clusters: 50, Seed: 3}).Vectors(200)
	c := New(Spec{Dim: 16, Clusters: 50, Seed: 4}).Vectors(200)
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Fatal("the seed does not decide the vectors")
	}
}

func TestVectorsAreUnitAndClustered(t *testing.T) {
	const n, dim = 4000, 64
	vecs := New(Spec{Dim: dim, Clusters: 100, Noise: -1, Seed: 1}).Vectors(n)
	dot := func(i, j int) float64 {
		var s float64
		for k := range dim {
			s += float64(vecs[i*dim+k]) * float64(vecs[j*dim+k])
		}
		return s
	}
	for i := range n {
		if d := dot(i, i); math.Abs(d-1) > 1e-5 {
			t.Fatalf("vector %d has squared length %v", i, d)
		}
	}
	// Clustered: a vector's nearest neighbour is far closer than a random other vector.
	var nearest, random float64
	for i := range 100 {
		best := -1.0
		for j := range n {
			if j != i {
				best = max(best, dot(i, j))
			}
		}
		nearest += best / 100
		random += dot(i, n-1-i) / 100
	}
	if nearest < 0.8 || random > 0.3 {
		t.Fatalf("mean cosine to the nearest %.2f, to a random vector %.2f: not clustered", nearest, random)
	}
}
