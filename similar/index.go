package similar

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// MaxDim is the largest dimension an Index accepts.
const MaxDim = 1 << 16

// flatBelow is the size under which an automatic Build keeps one list: Search then scans every
// vector and is exact, in well under a millisecond.
const flatBelow = 20_000

// Options tune an Index. The zero value picks every setting from the number of vectors at Build time
// and suits 64 to 128 dimensions from thousands to millions of vectors.
type Options struct {
	// Lists is the number of inverted lists (k-means clusters) Build makes. 0 picks about sqrt(Len),
	// and one list (exact search) under 20,000 vectors. Build makes fewer when there are not 32
	// vectors for each.
	Lists int
	// Probes is the number of lists Search scans: more is slower and finds more of the true
	// nearest neighbours. 0 means twice the square root of the number of lists, at least 16: 63
	// at a million vectors (Stats reports the number).
	Probes int
	// TrainingPoints is how many vectors, drawn at random, k-means learns the lists from. 0 means
	// 64 per list.
	TrainingPoints int
	// Iterations is the number of k-means rounds. 0 means 12.
	Iterations int
	// Seed makes Build repeatable: the same vectors added in the same order with the same seed give
	// the same index.
	Seed uint64
	// Workers is the number of goroutines Build uses. 0 means GOMAXPROCS.
	Workers int
}

// minPointsPerList is the fewest vectors per list Build accepts: below it, k-means has too few
// points to place a centroid well, and Build makes fewer lists.
const minPointsPerList = 32

// Index finds the stored vectors most similar to a query by cosine similarity. It is an inverted
// file ("IVF-Flat"): Build clusters the vectors with k-means into lists, and Search scores the query
// against the list centroids, then scans the vectors of the Probes nearest lists in full precision.
// Before Build (or under 20,000 vectors) there is a single list and Search is exact.
//
// All methods are safe for concurrent use. Search and Exact run in parallel with each other; Add
// takes a short exclusive lock; Build works on a snapshot without blocking Search or Add and takes
// the exclusive lock only to swap the new lists in.
type Index struct {
	dim  int
	opts Options

	buildMu sync.Mutex // one Build at a time

	mu sync.RWMutex
	// centroids holds one unit vector per list (dim floats each) after a Build that made more than
	// one list; never modified once published. nil means the index is flat: every list is scanned,
	// and the lists are merely chunks of at most flatChunk vectors in the order they were added.
	centroids []float32
	// lists hold the vectors. A list's arrays are only ever appended to, so a copy of its header
	// taken under the lock stays valid, unchanged, after the lock is released.
	lists    []postingList
	ids      map[uint64]struct{}
	n        int
	builtLen int    // Len at the last Build; 0 before
	gen      uint64 // bumped each time Build swaps in new lists

	// buildHook, when set (by tests), runs in Build between taking the snapshot and swapping in
	// the new lists.
	buildHook func()
}

// flatChunk is the most vectors a flat index keeps in one list. Filling chunks of fixed capacity
// rather than growing one list means no Add copies the whole index (holding the lock the while), and
// no more than one chunk is allocated ahead of need.
const flatChunk = 1 << 14

// postingList is the vectors of one list: ids[i] is the ID of vecs[i*dim:(i+1)*dim], a unit vector.
type postingList struct {
	ids  []uint64
	vecs []float32
}

// New returns an empty index of dim-dimensional vectors. It panics when dim is not between 1 and
// MaxDim or an option is negative: those are programming errors, like a negative length to make.
func New(dim int, opts Options) *Index {
	if dim < 1 || dim > MaxDim {
		panic(fmt.Sprintf("similar.New: dimension %d; want 1 to %d", dim, MaxDim))
	}
	if opts.Lists < 0 || opts.Probes < 0 || opts.TrainingPoints < 0 || opts.Iterations < 0 || opts.Workers < 0 {
		panic(fmt.Sprintf("similar.New: negative option in %+v", opts))
	}
	return &Index{dim: dim, opts: opts, lists: make([]postingList, 1), ids: make(map[uint64]struct{})}
}

// Dim is the dimension of the index's vectors.
func (ix *Index) Dim() int { return ix.dim }

// Len is the number of vectors in the index.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.n
}

// Add stores vec, scaled to unit length, under id. It fails, storing nothing, when vec has the wrong
// dimension, is all zeros or has a NaN or infinite component, or id is already stored. After a Build
// the vector joins the list of its nearest centroid and is found by Search at once.
func (ix *Index) Add(id uint64, vec []float32) error {
	v := make([]float32, ix.dim)
	if err := ix.check(v, vec); err != nil {
		return fmt.Errorf("similar: add %d: %w", id, err)
	}
	ix.mu.RLock()
	centroids, gen := ix.centroids, ix.gen
	ix.mu.RUnlock()
	list := max(nearest(v, centroids), 0) // outside the lock: ~nlist*dim multiply-adds

	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, dup := ix.ids[id]; dup {
		return fmt.Errorf("similar: add %d: %w: each incident is added once", id, ErrDuplicateID)
	}
	if ix.gen != gen { // a Build swapped in new lists meanwhile
		list = max(nearest(v, ix.centroids), 0)
	}
	if ix.centroids == nil {
		list = len(ix.lists) - 1
		if len(ix.lists[list].ids) >= flatChunk {
			ix.lists = append(ix.lists, postingList{
				ids:  make([]uint64, 0, flatChunk),
				vecs: make([]float32, 0, flatChunk*ix.dim),
			})
			list++
		}
	}
	l := &ix.lists[list]
	l.ids = append(l.ids, id)
	l.vecs = append(l.vecs, v...)
	ix.ids[id] = struct{}{}
	ix.n++
	return nil
}

// check normalises vec into dst, or says what is wrong with it.
func (ix *Index) check(dst, vec []float32) error {
	if len(vec) != ix.dim {
		return fmt.Errorf("vector has %d dimensions, the index %d (use the embedding model the index was made for): %w",
			len(vec), ix.dim, ErrDimension)
	}
	switch err := normalise(dst, vec); err {
	case nil:
		return nil
	case ErrZeroVector:
		return fmt.Errorf("all %d components are 0, so it has no direction to compare: %w", ix.dim, err)
	default:
		return fmt.Errorf("vector has a NaN or infinite component: %w", err)
	}
}

// Search returns the k stored vectors most similar to q by cosine similarity, best first (equal
// scores by ascending ID), or all of them when the index holds fewer than k. It scans the Probes
// lists whose centroids are nearest q, so it may miss a true neighbour that sits in another list;
// Exact does not. It fails when q has the wrong dimension, is all zeros or is not finite.
func (ix *Index) Search(q []float32, k int) ([]Hit, error) {
	return ix.search(q, k, 0, false)
}

// SearchProbes is Search scanning the given number of lists instead of the index's Probes: more
// for a search that must miss less, fewer for a faster one; the measuring aid for choosing Probes.
// probes <= 0 means the index's Probes.
func (ix *Index) SearchProbes(q []float32, k, probes int) ([]Hit, error) {
	return ix.search(q, k, probes, false)
}

// Exact returns the k stored vectors most similar to q by cosine similarity, scanning every vector:
// the reference Search is measured against, and fast enough on its own for small indexes (a million
// 64-dimensional vectors take some 40 ms on one core: 256 MB read from memory).
func (ix *Index) Exact(q []float32, k int) ([]Hit, error) {
	return ix.search(q, k, 0, true)
}

// scratch is one search's working memory, reused through a pool.
type scratch struct {
	q      []float32
	scores []float32
	probe  topK
	best   topK
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func (ix *Index) search(q []float32, k, probes int, exact bool) ([]Hit, error) {
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	if cap(s.q) < ix.dim {
		s.q = make([]float32, ix.dim)
	}
	qn := s.q[:ix.dim]
	if err := ix.check(qn, q); err != nil {
		return nil, fmt.Errorf("similar: search: %w", err)
	}
	if k <= 0 {
		return []Hit{}, nil
	}

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s.best.reset(min(k, ix.n))
	nlist := len(ix.lists)
	if probes <= 0 {
		probes = ix.probes(nlist)
	}
	if exact || ix.centroids == nil || probes >= nlist {
		for i := range ix.lists {
			s.best.scan(qn, &ix.lists[i])
		}
		return s.best.sorted(), nil
	}
	if cap(s.scores) < nlist {
		s.scores = make([]float32, nlist)
	}
	sc := s.scores[:nlist]
	scores(qn, ix.centroids, sc)
	s.probe.reset(probes)
	for i, v := range sc {
		if v >= s.probe.floor {
			s.probe.offer(uint64(i), v)
		}
	}
	// Nearest list first: the best hits come early and raise the floor that spares the rest.
	for _, p := range sortHits(s.probe.hits) {
		s.best.scan(qn, &ix.lists[p.ID])
	}
	return s.best.sorted(), nil
}

// probes is the number of lists Search scans out of nlist.
func (ix *Index) probes(nlist int) int {
	if ix.opts.Probes > 0 {
		return min(ix.opts.Probes, nlist)
	}
	return autoProbes(nlist)
}

// autoProbes is twice the square root of the number of lists, at least 16: 63 of 1,000 lists at a
// million vectors, 36 of 316 at 100,000. On clustered data that finds 97-99% of the true 10 nearest
// (see the package documentation), and the share of vectors scanned falls as the index grows (to
// 1/16 at a million), so Search time grows more slowly than the index.
func autoProbes(nlist int) int {
	return min(nlist, max(16, int(math.Round(2*math.Sqrt(float64(nlist))))))
}

// autoLists is the number of lists an automatic Build makes for n vectors: one under flatBelow, else
// about sqrt(n), which balances scoring the centroids against scanning the lists.
func autoLists(n int) int {
	if n < flatBelow {
		return 1
	}
	return int(math.Round(math.Sqrt(float64(n))))
}

func (ix *Index) workers() int {
	if ix.opts.Workers > 0 {
		return ix.opts.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// Stats describe an index's shape, for monitoring and for deciding when to Build again.
type Stats struct {
	Len    int // vectors stored
	Dim    int
	Lists  int // 1 before the first Build and while the index is small: Search is then exact
	Probes int // lists Search scans
	// BuiltLen is Len at the last Build (0: never built).
	BuiltLen int
	// LargestList is the length of the longest list; Search time grows with it.
	LargestList int
}

// Stats returns the index's current shape.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	st := Stats{Len: ix.n, Dim: ix.dim, Lists: 1, Probes: 1, BuiltLen: ix.builtLen, LargestList: ix.n}
	if ix.centroids != nil {
		st.Lists = len(ix.lists)
		st.Probes = ix.probes(st.Lists)
		st.LargestList = 0
		for i := range ix.lists {
			st.LargestList = max(st.LargestList, len(ix.lists[i].ids))
		}
	}
	return st
}

// BuildDue reports whether a Build would now pay off: the index has outgrown exact search and was
// never built, it has doubled in size since the last Build (lists twice as long make Search twice as
// slow, and more lists would suit it), or one list has grown to more than eight times the average
// (a new kind of vector arriving in bulk, all filed under one old centroid).
func (s Stats) BuildDue() bool {
	switch {
	case s.Len == 0:
		return false
	case s.Lists == 1:
		return s.Len >= flatBelow && s.Len >= 2*s.BuiltLen
	case s.Len >= 2*s.BuiltLen:
		return true
	case s.Lists > 1 && s.LargestList > 8*s.Len/s.Lists:
		return true
	}
	return false
}
