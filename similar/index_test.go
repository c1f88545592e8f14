package similar

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestExactMatchesBruteForce(t *testing.T) {
	// Odd sizes and dimensions exercise the kernels' tails (vectors in fours, components in any number).
	for _, tc := range []struct{ n, dim int }{{1, 1}, {3, 5}, {97, 7}, {1001, 64}, {513, 128}, {250, 33}} {
		rng := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.dim)))
		vecs := randomVectors(rng, tc.n, tc.dim)
		ids := sequentialIDs(tc.n)
		ix := fill(t, tc.dim, Options{}, ids, vecs)
		for range 20 {
			q := randomVectors(rng, 1, tc.dim)[0]
			for _, k := range []int{1, 10, tc.n} {
				want := bruteForce(vecs, ids, q, k)
				sameHits(t, "Exact", mustExact(t, ix, q, k), want, 1e-5)
				// Before Build there is one list: Search is exact too.
				sameHits(t, "Search before Build", mustSearch(t, ix, q, k), want, 1e-5)
			}
		}
	}
}

func TestSearchScanningEveryListIsExact(t *testing.T) {
	const n, dim = 4000, 16
	vecs := clusteredVectors(3, n, dim)
	ids := sequentialIDs(n)
	ix := fill(t, dim, Options{Lists: 20, Seed: 1}, ids, vecs)
	if err := ix.Build(); err != nil {
		t.Fatal(err)
	}
	if st := ix.Stats(); st.Lists != 20 || st.Len != n || st.BuiltLen != n {
		t.Fatalf("Stats() = %+v, want 20 lists of %d vectors", st, n)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		q := randomVectors(rng, 1, dim)[0]
		want := mustExact(t, ix, q, 10)
		sameHits(t, "Exact after Build", want, bruteForce(vecs, ids, q, 10), 1e-5)
		got, err := ix.SearchProbes(q, 10, 20)
		if err != nil {
			t.Fatal(err)
		}
		sameHits(t, "Search of all 20 lists", got, want, 0)
	}
}

func TestScoresAreCosine(t *testing.T) {
	ix := New(3, Options{})
	must(t, ix.Add(1, []float32{3, 0, 0}))
	must(t, ix.Add(2, []float32{0, 0.001, 0}))
	must(t, ix.Add(3, []float32{-1, 1, 0}))
	got := mustSearch(t, ix, []float32{100, 100, 0}, 3)
	r := float32(math.Sqrt2 / 2)
	sameHits(t, "cosine", got, []Hit{{1, r}, {2, r}, {3, 0}}, 1e-6)
	// A query scaled by any positive factor finds the same.
	sameHits(t, "scaled query", mustSearch(t, ix, []float32{1e-30, 1e-30, 0}, 3), got, 1e-6)
}

func TestTiesAreOrderedByID(t *testing.T) {
	ix := New(2, Options{})
	for _, id := range []uint64{9, 3, 7, 1, 5} {
		must(t, ix.Add(id, []float32{1, 1}))
	}
	got := mustSearch(t, ix, []float32{1, 1}, 3)
	for i, id := range []uint64{1, 3, 5} {
		if got[i].ID != id {
			t.Fatalf("Search = %v, want IDs 1, 3, 5 (equal scores by ID)", got)
		}
	}
}

func TestKLargerThanLen(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, build := range []bool{false, true} {
		ix := New(8, Options{Lists: 4})
		if got := mustSearch(t, ix, []float32{1, 0, 0, 0, 0, 0, 0, 0}, 10); len(got) != 0 {
			t.Fatalf("Search of an empty index = %v, want none", got)
		}
		vecs := randomVectors(rng, 200, 8)
		for i, v := range vecs {
			must(t, ix.Add(uint64(i), v))
		}
		if build {
			must(t, ix.Build())
		}
		for _, k := range []int{200, 201, 1 << 40} {
			got, err := ix.SearchProbes(vecs[0], k, 4)
			if err != nil || len(got) != 200 {
				t.Fatalf("build=%v: Search(k=%d) = %d hits, %v; want all 200", build, k, len(got), err)
			}
			if e := mustExact(t, ix, vecs[0], k); len(e) != 200 {
				t.Fatalf("Exact(k=%d) = %d hits, want 200", k, len(e))
			}
		}
		for _, k := range []int{0, -1} {
			if got := mustSearch(t, ix, vecs[0], k); len(got) != 0 {
				t.Fatalf("Search(k=%d) = %v, want none", k, got)
			}
		}
	}
}

func TestBadVectorsAreRejected(t *testing.T) {
	ix := New(4, Options{})
	must(t, ix.Add(1, []float32{1, 2, 3, 4}))
	for _, tc := range []struct {
		name string
		vec  []float32
		want error
		says string
	}{
		{"zero", []float32{0, 0, 0, 0}, ErrZeroVector, "all 4 components are 0"},
		{"negative zero", []float32{0, float32(math.Copysign(0, -1)), 0, 0}, ErrZeroVector, "no direction"},
		{"too short", []float32{1, 2, 3}, ErrDimension, "vector has 3 dimensions, the index 4"},
		{"too long", []float32{1, 2, 3, 4, 5}, ErrDimension, "vector has 5 dimensions, the index 4"},
		{"empty", nil, ErrDimension, "vector has 0 dimensions"},
		{"NaN", []float32{1, float32(math.NaN()), 0, 0}, ErrNotFinite, "NaN or infinite"},
		{"infinite", []float32{1, float32(math.Inf(-1)), 0, 0}, ErrNotFinite, "NaN or infinite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ix.Add(2, tc.vec)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "add 2") {
				t.Errorf("Add: %v; want %v saying %q and naming id 2", err, tc.want, tc.says)
			}
			if _, err := ix.Search(tc.vec, 1); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Search: %v; want %v saying %q", err, tc.want, tc.says)
			}
			if _, err := ix.Exact(tc.vec, 1); !errors.Is(err, tc.want) {
				t.Errorf("Exact: %v; want %v", err, tc.want)
			}
		})
	}
	if ix.Len() != 1 {
		t.Fatalf("Len() = %d after rejected Adds, want 1", ix.Len())
	}
	// Tiny but non-zero components are a direction like any other.
	must(t, ix.Add(3, []float32{1e-45, 0, 0, 0}))
	if got := mustSearch(t, ix, []float32{1, 0, 0, 0}, 1); got[0].ID != 3 || got[0].Score != 1 {
		t.Fatalf("Search = %v, want id 3 at score 1", got)
	}
}

func TestDuplicateIDIsRejected(t *testing.T) {
	ix := New(2, Options{})
	must(t, ix.Add(7, []float32{1, 0}))
	err := ix.Add(7, []float32{0, 1})
	if !errors.Is(err, ErrDuplicateID) || !strings.Contains(err.Error(), "add 7") {
		t.Fatalf("second Add(7): %v; want ErrDuplicateID naming 7", err)
	}
	if got := mustSearch(t, ix, []float32{0, 1}, 5); len(got) != 1 || got[0].Score > 0.5 {
		t.Fatalf("Search = %v, want only the first vector of id 7", got)
	}
}

func TestAddCopiesTheVector(t *testing.T) {
	ix := New(2, Options{})
	v := []float32{1, 0}
	must(t, ix.Add(1, v))
	v[0], v[1] = 0, 1
	if got := mustSearch(t, ix, []float32{1, 0}, 1); got[0].Score != 1 {
		t.Fatalf("Search = %v after the caller reused its slice, want score 1", got)
	}
}

func TestAddAfterBuildIsFoundAtOnce(t *testing.T) {
	const n, dim = 5000, 32
	vecs := clusteredVectors(5, n+500, dim)
	ids := sequentialIDs(n + 500)
	ix := fill(t, dim, Options{Lists: 60, Seed: 2}, ids[:n], vecs[:n])
	must(t, ix.Build())
	if st := ix.Stats(); st.Lists != 60 || st.Probes != autoProbes(60) {
		t.Fatalf("Stats() = %+v, want 60 lists, %d probes", st, autoProbes(60))
	}
	for i := n; i < n+500; i++ {
		must(t, ix.Add(ids[i], vecs[i]))
		got := mustSearch(t, ix, vecs[i], 1)
		if got[0].ID != ids[i] || got[0].Score < 0.9999 {
			t.Fatalf("Search for the vector just added as %d = %v", ids[i], got)
		}
	}
	if ix.Len() != n+500 {
		t.Fatalf("Len() = %d, want %d", ix.Len(), n+500)
	}
}

func TestSmallIndexStaysExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	ix := fill(t, 8, Options{}, sequentialIDs(1000), randomVectors(rng, 1000, 8))
	must(t, ix.Build())
	if st := ix.Stats(); st.Lists != 1 || st.BuiltLen != 1000 || st.BuildDue() {
		t.Fatalf("Stats() = %+v, want one list, built at 1000, no Build due", st)
	}
	// Explicit lists, but too few vectors for each: Build makes what the data supports.
	ix = fill(t, 8, Options{Lists: 100}, sequentialIDs(1000), randomVectors(rng, 1000, 8))
	must(t, ix.Build())
	if st := ix.Stats(); st.Lists != 1000/minPointsPerList {
		t.Fatalf("Stats() = %+v, want %d lists", st, 1000/minPointsPerList)
	}
}

func TestBuildIsRepeatable(t *testing.T) {
	const n, dim = 6000, 24
	vecs := clusteredVectors(7, n, dim)
	ids := sequentialIDs(n)
	var files []string
	for _, workers := range []int{1, 2, 3} {
		ix := fill(t, dim, Options{Lists: 50, Seed: 9, Workers: workers}, ids, vecs)
		must(t, ix.Build())
		var b strings.Builder
		if _, err := ix.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		files = append(files, b.String())
	}
	for i := 1; i < len(files); i++ {
		if files[i] != files[0] {
			t.Fatalf("Build with %d workers differs from Build with 1", i+1)
		}
	}
}

func TestBuildDue(t *testing.T) {
	for _, tc := range []struct {
		st   Stats
		want bool
	}{
		{Stats{}, false},
		{Stats{Len: 5000, Lists: 1}, false},
		{Stats{Len: flatBelow, Lists: 1}, true},
		{Stats{Len: 30_000, Lists: 1, BuiltLen: 19_000}, false},
		{Stats{Len: 40_000, Lists: 1, BuiltLen: 19_000}, true},
		{Stats{Len: 150_000, Lists: 300, BuiltLen: 100_000, LargestList: 1500}, false},
		{Stats{Len: 200_000, Lists: 300, BuiltLen: 100_000, LargestList: 1500}, true},
		{Stats{Len: 110_000, Lists: 300, BuiltLen: 100_000, LargestList: 3000}, true},
	} {
		if got := tc.st.BuildDue(); got != tc.want {
			t.Errorf("%+v.BuildDue() = %v, want %v", tc.st, got, tc.want)
		}
	}
}

func TestNewPanicsOnBadArguments(t *testing.T) {
	for _, f := range []func(){
		func() { New(0, Options{}) },
		func() { New(MaxDim+1, Options{}) },
		func() { New(8, Options{Probes: -1}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			f()
		}()
	}
}

func TestRecall(t *testing.T) {
	want := []Hit{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}
	if r := Recall([]Hit{{ID: 4}, {ID: 9}, {ID: 1}}, want); r != 0.5 {
		t.Fatalf("Recall = %v, want 0.5", r)
	}
	if r := Recall(nil, nil); r != 1 {
		t.Fatalf("Recall of nothing = %v, want 1", r)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFlatIndexKeepsChunks(t *testing.T) {
	n := 2*flatChunk + 100
	rng := rand.New(rand.NewPCG(12, 12))
	vecs := randomVectors(rng, n, 4)
	ids := sequentialIDs(n)
	ix := fill(t, 4, Options{Lists: 50}, ids, vecs)
	if len(ix.lists) != 3 {
		t.Fatalf("%d vectors in %d chunks, want 3", n, len(ix.lists))
	}
	if st := ix.Stats(); st.Lists != 1 || st.LargestList != n || st.Probes != 1 {
		t.Fatalf("Stats() = %+v, want one list of %d (flat)", st, n)
	}
	for range 5 {
		q := randomVectors(rng, 1, 4)[0]
		sameHits(t, "Search of a flat index", mustSearch(t, ix, q, 10), bruteForce(vecs, ids, q, 10), 1e-5)
	}
	back, _ := roundTrip(t, ix)
	if len(back.lists) != 3 || back.Len() != n {
		t.Fatalf("after a round trip: %d chunks, %d vectors; want 3, %d", len(back.lists), back.Len(), n)
	}
	must(t, ix.Build())
	if st := ix.Stats(); st.Lists != 50 || st.Len != n {
		t.Fatalf("Stats() after Build = %+v, want 50 lists of %d vectors", st, n)
	}
}

// TestAddsDuringBuildAreKept adds vectors while Build runs, after its snapshot: from a flat index
// (the adds start a new chunk) and from a built one.
func TestAddsDuringBuildAreKept(t *testing.T) {
	const dim = 8
	n := flatChunk - 10
	vecs := clusteredVectors(13, n+400, dim)
	ids := sequentialIDs(n + 400)
	ix := fill(t, dim, Options{Lists: 30, Seed: 4}, ids[:n], vecs[:n])
	next := n
	ix.buildHook = func() {
		for range 200 {
			must(t, ix.Add(ids[next], vecs[next]))
			next++
		}
	}
	for round := range 2 {
		must(t, ix.Build())
		if st := ix.Stats(); st.Len != next || st.BuiltLen != next || st.Lists != 30 {
			t.Fatalf("round %d: Stats() = %+v, want %d vectors in 30 lists", round, st, next)
		}
		stored := 0
		for _, l := range ix.lists {
			stored += len(l.ids)
		}
		if stored != next {
			t.Fatalf("round %d: lists hold %d vectors, want %d", round, stored, next)
		}
		for i := n; i < next; i++ {
			if got := mustSearch(t, ix, vecs[i], 1); got[0].ID != ids[i] {
				t.Fatalf("round %d: vector %d added during Build: nearest is %v", round, ids[i], got)
			}
		}
	}
}
