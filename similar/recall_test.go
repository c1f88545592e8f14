package similar

import (
	"testing"
	"time"

	"github.com/guided-response/guided/similar/internal/clustered"
)

// TestRecallOnClusteredData is the quality bar: with the automatic settings, Search finds at least 95%
// of the true 10 nearest neighbours of new incident-like vectors, on average.
func TestRecallOnClusteredData(t *testing.T) {
	for _, tc := range []struct{ n, dim int }{{100_000, 64}, {50_000, 128}} {
		opts := Options{Seed: 1}
		if raceEnabled { // smaller, with lists it would not make automatically at that size
			tc.n /= 10
			opts.Lists = 64
		}
		gen := clustered.New(clustered.Spec{Dim: tc.dim, Seed: 11})
		ix := New(tc.dim, opts)
		v := make([]float32, tc.dim)
		for i := range tc.n {
			must(t, ix.Add(uint64(i), gen.Next(v)))
		}
		start := time.Now()
		must(t, ix.Build())
		build := time.Since(start)
		st := ix.Stats()
		if st.Lists < 2 {
			t.Fatalf("n=%d: Build made %d list; want inverted lists", tc.n, st.Lists)
		}
		queries, k := 200, 10
		if raceEnabled {
			queries = 60
		}
		var sum float64
		var searchTime, exactTime time.Duration
		for range queries {
			q := gen.Next(nil)
			t0 := time.Now()
			got := mustSearch(t, ix, q, k)
			t1 := time.Now()
			want := mustExact(t, ix, q, k)
			exactTime += time.Since(t1)
			searchTime += t1.Sub(t0)
			sum += Recall(got, want)
		}
		recall := sum / float64(queries)
		t.Logf("n=%d dim=%d: build %s, %d lists, %d probes; recall@%d %.4f; mean Search %s, Exact %s",
			tc.n, tc.dim, build.Round(time.Millisecond), st.Lists, st.Probes, k, recall,
			searchTime/time.Duration(queries), exactTime/time.Duration(queries))
		if recall < 0.95 {
			t.Errorf("n=%d dim=%d: recall@%d = %.4f, want at least 0.95", tc.n, tc.dim, k, recall)
		}
	}
}
