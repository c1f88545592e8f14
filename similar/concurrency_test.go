package similar

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentUse runs Search, Exact, Add, Build, Stats, WriteTo and ReadIndex at once; run it
// with -race.
// Every vector added must be in the index afterwards, in whichever list, and found as its own
// nearest neighbour.
func TestConcurrentUse(t *testing.T) {
	const dim = 16
	// Not built yet, and one chunk from full: the first Builds run from a flat index while Adds
	// start new chunks.
	initial, added := flatChunk-500, 3000
	if raceEnabled {
		added = 600
	}
	vecs := clusteredVectors(31, initial+added, dim)
	ids := sequentialIDs(initial + added)
	ix := fill(t, dim, Options{Lists: 40, Seed: 3}, ids[:initial], vecs[:initial])

	var wg sync.WaitGroup
	var done atomic.Bool
	for w := range 3 {
		wg.Go(func() {
			for i := w; !done.Load(); i = (i + 7) % len(vecs) {
				if _, err := ix.Search(vecs[i], 10); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if _, err := ix.Exact(vecs[i], 5); err != nil {
						t.Error(err)
						return
					}
					_ = ix.Stats()
				}
			}
		})
	}
	wg.Go(func() {
		for !done.Load() {
			if err := ix.Build(); err != nil {
				t.Error(err)
				return
			}
			var buf bytes.Buffer
			if _, err := ix.WriteTo(&buf); err != nil {
				t.Error(err)
				return
			}
			if _, err := ReadIndex(&buf); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var adders sync.WaitGroup
	for w := range 2 {
		adders.Go(func() {
			for i := initial + w; i < initial+added; i += 2 {
				if err := ix.Add(ids[i], vecs[i]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	adders.Wait()
	done.Store(true)
	wg.Wait()

	if ix.Len() != initial+added {
		t.Fatalf("Len() = %d, want %d", ix.Len(), initial+added)
	}
	seen := make(map[uint64]bool)
	for _, l := range ix.lists {
		for _, id := range l.ids {
			if seen[id] {
				t.Fatalf("id %d stored twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != initial+added {
		t.Fatalf("lists hold %d vectors, want %d", len(seen), initial+added)
	}
	for i := initial; i < initial+added; i++ {
		if got := mustSearch(t, ix, vecs[i], 1); got[0].ID != ids[i] {
			t.Fatalf("Search for vector %d = %v, want itself", ids[i], got)
		}
	}
}
