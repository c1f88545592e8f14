package similar

import (
	"math"
	"slices"
)

// Hit is one search result: a stored vector's ID and its cosine similarity to the query, from -1
// (opposite) to 1 (same direction).
type Hit struct {
	ID    uint64
	Score float32
}

// better orders hits best first: higher score, then lower ID, so equal scores give the same order
// every time.
func better(a, b Hit) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.ID < b.ID)
}

// topK keeps the k best hits seen so far in a heap whose root is the worst of them.
type topK struct {
	k     int
	hits  []Hit
	floor float32 // a hit scoring below floor cannot enter; -Inf until the heap is full
}

func (t *topK) reset(k int) {
	t.k = k
	t.hits = t.hits[:0]
	t.floor = float32(math.Inf(-1))
}

// offer considers a hit; callers may skip hits scoring below t.floor without calling it.
func (t *topK) offer(id uint64, score float32) {
	h := Hit{ID: id, Score: score}
	if len(t.hits) < t.k {
		t.hits = append(t.hits, h)
		t.up(len(t.hits) - 1)
		if len(t.hits) == t.k {
			t.floor = t.hits[0].Score
		}
		return
	}
	if !better(h, t.hits[0]) {
		return
	}
	t.hits[0] = h
	t.down(0)
	t.floor = t.hits[0].Score
}

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !better(t.hits[p], t.hits[i]) {
			return
		}
		t.hits[p], t.hits[i] = t.hits[i], t.hits[p]
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.hits)
	for {
		w := i
		if l := 2*i + 1; l < n && better(t.hits[w], t.hits[l]) {
			w = l
		}
		if r := 2*i + 2; r < n && better(t.hits[w], t.hits[r]) {
			w = r
		}
		if w == i {
			return
		}
		t.hits[i], t.hits[w] = t.hits[w], t.hits[i]
		i = w
	}
}

// scan offers every vector of a list, scored against q.
func (t *topK) scan(q []float32, l *postingList) {
	dim := len(q)
	ids := l.ids
	n := len(ids)
	vecs := l.vecs[:n*dim]
	j := 0
	for ; j+4 <= n; j += 4 {
		o := j * dim
		s0, s1, s2, s3 := dot4(q, vecs[o:o+dim], vecs[o+dim:o+2*dim], vecs[o+2*dim:o+3*dim], vecs[o+3*dim:o+4*dim])
		if s0 >= t.floor {
			t.offer(ids[j], s0)
		}
		if s1 >= t.floor {
			t.offer(ids[j+1], s1)
		}
		if s2 >= t.floor {
			t.offer(ids[j+2], s2)
		}
		if s3 >= t.floor {
			t.offer(ids[j+3], s3)
		}
	}
	for ; j < n; j++ {
		if s := dot(q, vecs[j*dim:(j+1)*dim]); s >= t.floor {
			t.offer(ids[j], s)
		}
	}
}

// sorted returns a copy of the hits, best first.
func (t *topK) sorted() []Hit {
	return sortHits(slices.Clone(t.hits))
}

// sortHits sorts hits best first, in place.
func sortHits(hits []Hit) []Hit {
	slices.SortFunc(hits, func(a, b Hit) int {
		if better(a, b) {
			return -1
		}
		if better(b, a) {
			return 1
		}
		return 0
	})
	return hits
}

// Recall is the share of want's IDs that got holds: got from Search, want from Exact with the same
// k. 1 when want is empty.
func Recall(got, want []Hit) float64 {
	if len(want) == 0 {
		return 1
	}
	found := 0
	for _, w := range want {
		for _, g := range got {
			if g.ID == w.ID {
				found++
				break
			}
		}
	}
	return float64(found) / float64(len(want))
}
