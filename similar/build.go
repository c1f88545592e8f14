package similar

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// Build (re)makes the lists: it picks the number of lists from Len and Options, learns their
// centroids by k-means on a random sample of the stored vectors, and files every vector under its
// nearest centroid. Search and Add go on meanwhile, against the old lists; vectors added during the
// Build are filed into the new lists when they are swapped in. Build needs memory for a second copy of
// the vectors while it runs.
//
// Call it once the first vectors are loaded, then again when Stats().BuildDue() says so: vectors added
// after a Build join their nearest list, so Search finds them at once, but lists only get longer
// (slower) and the centroids do not follow new kinds of incidents until the next Build. A million
// vectors take some 15 seconds of two idle cores at 64 dimensions, 35 at 128; Builds run one at a
// time. The error is for failures a future method may have (this one has none) and is always nil.
func (ix *Index) Build() error {
	ix.buildMu.Lock()
	defer ix.buildMu.Unlock()

	ix.mu.RLock()
	snap := slices.Clone(ix.lists)
	n, flat := ix.n, ix.centroids == nil
	ix.mu.RUnlock()

	nlist := ix.listsFor(n)
	if nlist == 1 && flat { // small: stays flat, searched exactly
		ix.mu.Lock()
		ix.builtLen = ix.n
		ix.mu.Unlock()
		return nil
	}
	src := newSnapshot(snap, ix.dim)
	var centroids []float32
	if nlist > 1 {
		rng := rand.New(rand.NewPCG(ix.opts.Seed, ix.opts.Seed^0x5eed_51_3117a4))
		points := ix.opts.TrainingPoints
		if points == 0 {
			points = 64 * nlist
		}
		points = max(nlist, min(points, n))
		sample := src.sample(rng, points)
		iters := ix.opts.Iterations
		if iters == 0 {
			iters = 12
		}
		centroids = kmeans(sample, ix.dim, nlist, iters, rng, ix.workers())
	}
	lists := src.file(centroids, nlist, ix.workers())
	if ix.buildHook != nil {
		ix.buildHook()
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	// File the vectors added since the snapshot. ix.lists[i] is snap[i] with vectors appended, and
	// lists past len(snap) are chunks a flat index started since.
	dim := ix.dim
	for i := range ix.lists {
		cur := &ix.lists[i]
		from := 0
		if i < len(snap) {
			from = len(snap[i].ids)
		}
		for j := from; j < len(cur.ids); j++ {
			v := cur.vecs[j*dim : (j+1)*dim]
			l := &lists[max(nearest(v, centroids), 0)]
			l.ids = append(l.ids, cur.ids[j])
			l.vecs = append(l.vecs, v...)
		}
	}
	ix.centroids, ix.lists = centroids, lists
	ix.gen++
	ix.builtLen = ix.n
	return nil
}

// listsFor is the number of lists Build makes for n vectors.
func (ix *Index) listsFor(n int) int {
	want := ix.opts.Lists
	if want == 0 {
		want = autoLists(n)
	}
	return max(1, min(want, n/minPointsPerList))
}

// snapshot is the vectors of a copy of the lists' headers, numbered 0 to n-1 in list order.
type snapshot struct {
	lists []postingList
	start []int // start[i] is the number of the first vector of lists[i]; start[len(lists)] = n
	dim   int
}

func newSnapshot(lists []postingList, dim int) *snapshot {
	s := &snapshot{lists: lists, start: make([]int, len(lists)+1), dim: dim}
	for i, l := range lists {
		s.start[i+1] = s.start[i] + len(l.ids)
	}
	return s
}

func (s *snapshot) len() int { return s.start[len(s.lists)] }

// each calls f for the vectors numbered a to b-1, in order.
func (s *snapshot) each(a, b int, f func(g int, id uint64, v []float32)) {
	dim := s.dim
	for i := range s.lists {
		lo, hi := max(a, s.start[i]), min(b, s.start[i+1])
		l := &s.lists[i]
		for g := lo; g < hi; g++ {
			j := g - s.start[i]
			f(g, l.ids[j], l.vecs[j*dim:(j+1)*dim])
		}
	}
}

// sample copies m vectors drawn at random without replacement, in snapshot order.
func (s *snapshot) sample(rng *rand.Rand, m int) []float32 {
	n := s.len()
	pick := rng.Perm(n)[:m]
	slices.Sort(pick)
	out := make([]float32, 0, m*s.dim)
	next := 0
	s.each(0, n, func(g int, _ uint64, v []float32) {
		if next < len(pick) && pick[next] == g {
			out = append(out, v...)
			next++
		}
	})
	return out
}

// file files every vector of the snapshot under its nearest centroid (all under list 0 when
// centroids is nil), into nlist new lists that share one allocation. Each list's capacity is its
// length, so a later append moves that list rather than overwrite its neighbour.
func (s *snapshot) file(centroids []float32, nlist, workers int) []postingList {
	n, dim := s.len(), s.dim
	assign := make([]int32, n)
	if centroids != nil {
		parallel(n, workers, func(a, b int) {
			s.each(a, b, func(g int, _ uint64, v []float32) {
				assign[g] = int32(nearest(v, centroids))
			})
		})
	}
	next := make([]int, nlist+1)
	for _, l := range assign {
		next[l+1]++
	}
	for i := range nlist {
		next[i+1] += next[i]
	}
	ids := make([]uint64, n)
	vecs := make([]float32, n*dim)
	lists := make([]postingList, nlist)
	for i := range lists {
		a, b := next[i], next[i+1]
		lists[i] = postingList{ids: ids[a:b:b], vecs: vecs[a*dim : b*dim : b*dim]}
	}
	s.each(0, n, func(g int, id uint64, v []float32) {
		p := next[assign[g]]
		next[assign[g]]++
		ids[p] = id
		copy(vecs[p*dim:(p+1)*dim], v)
	})
	return lists
}

// parallel runs f over [0,n) split into one contiguous range per worker.
func parallel(n, workers int, f func(a, b int)) {
	workers = max(1, min(workers, n/1024))
	var wg sync.WaitGroup
	for w := range workers {
		a, b := n*w/workers, n*(w+1)/workers
		wg.Go(func() { f(a, b) })
	}
	wg.Wait()
}

// kmeans clusters the unit vectors of points (dim floats each) into k clusters by spherical k-means
// and returns the k unit centroids. It starts from k distinct points drawn at random; a cluster left
// empty takes half of the largest one. The assignment step runs on workers goroutines and the
// update step in point order, so the result does not depend on workers.
func kmeans(points []float32, dim, k, iters int, rng *rand.Rand, workers int) []float32 {
	m := len(points) / dim
	cents := make([]float32, k*dim)
	for c, p := range rng.Perm(m)[:k] {
		copy(cents[c*dim:(c+1)*dim], points[p*dim:(p+1)*dim])
	}
	assign := make([]int32, m)
	for i := range assign {
		assign[i] = -1
	}
	sums := make([]float64, k*dim)
	counts := make([]int, k)
	for range iters {
		var mu sync.Mutex
		changed := 0
		parallel(m, workers, func(a, b int) {
			ch := 0
			for i := a; i < b; i++ {
				c := int32(nearest(points[i*dim:(i+1)*dim], cents))
				if assign[i] != c {
					assign[i] = c
					ch++
				}
			}
			mu.Lock()
			changed += ch
			mu.Unlock()
		})
		if changed == 0 {
			break
		}
		clear(sums)
		clear(counts)
		for i, c := range assign {
			counts[c]++
			sum := sums[int(c)*dim : (int(c)+1)*dim]
			for j, x := range points[i*dim : (i+1)*dim] {
				sum[j] += float64(x)
			}
		}
		for c := range k {
			if counts[c] > 0 {
				setUnit(cents[c*dim:(c+1)*dim], sums[c*dim:(c+1)*dim])
			}
		}
		for c := range k {
			if counts[c] == 0 {
				split(cents, counts, c, dim, rng)
			}
		}
	}
	return cents
}

// setUnit writes sum scaled to unit length into dst; a zero sum (points that cancel out) leaves dst
// as it was.
func setUnit(dst []float32, sum []float64) {
	var ss float64
	for _, x := range sum {
		ss += x * x
	}
	if ss == 0 {
		return
	}
	inv := 1 / math.Sqrt(ss)
	for j, x := range sum {
		dst[j] = float32(x * inv)
	}
}

// split gives the empty cluster e half of the largest cluster: the two centroids move slightly apart
// from the largest one's place, in a random direction, and the next assignment shares its points.
func split(cents []float32, counts []int, e, dim int, rng *rand.Rand) {
	big := 0
	for c, n := range counts {
		if n > counts[big] {
			big = c
		}
	}
	a := make([]float64, dim)
	b := make([]float64, dim)
	for j := range dim {
		x := float64(cents[big*dim+j])
		d := rng.NormFloat64() * 0.01 / math.Sqrt(float64(dim))
		a[j], b[j] = x+d, x-d
	}
	setUnit(cents[e*dim:(e+1)*dim], a)
	setUnit(cents[big*dim:(big+1)*dim], b)
	counts[e] = counts[big] / 2
	counts[big] -= counts[e]
}
