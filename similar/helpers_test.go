package similar

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/guided-response/guided/similar/internal/clustered"
)

// randomVectors are n vectors of dim components drawn from a normal distribution (not unit length:
// the index must scale them).
func randomVectors(rng *rand.Rand, n, dim int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64() * 3)
		}
		out[i] = v
	}
	return out
}

// clusteredVectors are n vectors from the package's incident-like mixture.
func clusteredVectors(seed uint64, n, dim int) [][]float32 {
	g := clustered.New(clustered.Spec{Dim: dim, Seed: seed})
	out := make([][]float32, n)
	for i := range out {
		out[i] = g.Next(nil)
	}
	return out
}

// bruteForce is the reference: cosine similarity in float64, best first, ties by ID.
func bruteForce(vecs [][]float32, ids []uint64, q []float32, k int) []Hit {
	norm := func(v []float32) float64 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	qn := norm(q)
	hits := make([]Hit, len(vecs))
	for i, v := range vecs {
		var d float64
		for j := range v {
			d += float64(v[j]) * float64(q[j])
		}
		hits[i] = Hit{ID: ids[i], Score: float32(d / (qn * norm(v)))}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return hits[:min(k, len(hits))]
}

// fill adds vecs under ids to a new index.
func fill(t testing.TB, dim int, opts Options, ids []uint64, vecs [][]float32) *Index {
	t.Helper()
	ix := New(dim, opts)
	for i, v := range vecs {
		if err := ix.Add(ids[i], v); err != nil {
			t.Fatal(err)
		}
	}
	return ix
}

// sequentialIDs are 1000, 1001, ...: not the positions, so a mix-up shows.
func sequentialIDs(n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = uint64(1000 + i)
	}
	return ids
}

func mustSearch(t testing.TB, ix *Index, q []float32, k int) []Hit {
	t.Helper()
	h, err := ix.Search(q, k)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustExact(t testing.TB, ix *Index, q []float32, k int) []Hit {
	t.Helper()
	h, err := ix.Exact(q, k)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sameHits fails unless got and want list the same IDs in the same order with scores within tol.
func sameHits(t testing.TB, what string, got, want []Hit, tol float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d hits, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i].ID != want[i].ID || abs(got[i].Score-want[i].Score) > tol {
			t.Fatalf("%s: hit %d is %+v, want %+v\ngot  %v\nwant %v", what, i, got[i], want[i], got, want)
		}
	}
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
