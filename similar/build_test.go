package similar

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKMeansWithRepeatedPoints: identical points give identical starting centroids and empty
// clusters; k-means must still return k finite unit centroids that cover every distinct point.
func TestKMeansWithRepeatedPoints(t *testing.T) {
	const dim = 4
	var points []float32
	for i := range 400 {
		if i%4 == 0 {
			points = append(points, 0, 1, 0, 0)
		} else {
			points = append(points, 1, 0, 0, 0)
		}
	}
	for seed := range uint64(10) {
		cents := kmeans(points, dim, 3, 8, rand.New(rand.NewPCG(seed, 0)), 2)
		var sawX, sawY bool
		for c := range 3 {
			v := cents[c*dim : (c+1)*dim]
			var ss float64
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("seed %d: centroid %d is %v", seed, c, v)
				}
				ss += float64(x) * float64(x)
			}
			if math.Abs(ss-1) > 1e-5 {
				t.Fatalf("seed %d: centroid %d = %v is not unit length", seed, c, v)
			}
			sawX = sawX || v[0] > 0.99
			sawY = sawY || v[1] > 0.99
		}
		if !sawX || !sawY {
			t.Fatalf("seed %d: centroids %v miss one of the two points", seed, cents)
		}
	}
}
