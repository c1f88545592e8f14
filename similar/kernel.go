package similar

import "math"

// The kernels below are plain Go written so the compiler can drop the bounds checks and keep several
// independent sums in registers: dot4 scores four stored vectors per pass over the query, loading
// each query component once for four products. Every kernel adds the products of one pair in the
// same order (component 0 first, one running sum), so a vector's score does not depend on where it
// sits in a list: Search and Exact agree to the last bit, before and after a round trip through a
// file.

// dot is the dot product of q and a, len(a) >= len(q).
func dot(q, a []float32) float32 {
	a = a[:len(q)]
	var s float32
	for i, x := range q {
		s += x * a[i]
	}
	return s
}

// dot4 is the dot products of q with a, b, c and d, each at least len(q) long.
func dot4(q, a, b, c, d []float32) (float32, float32, float32, float32) {
	a = a[:len(q)]
	b = b[:len(q)]
	c = c[:len(q)]
	d = d[:len(q)]
	var s0, s1, s2, s3 float32
	for i, x := range q {
		s0 += x * a[i]
		s1 += x * b[i]
		s2 += x * c[i]
		s3 += x * d[i]
	}
	return s0, s1, s2, s3
}

// scores writes into out[j] the dot product of q with the j-th vector of vecs (len(q) floats each);
// len(out) is the number of vectors.
func scores(q, vecs []float32, out []float32) {
	dim := len(q)
	n := len(out)
	vecs = vecs[:n*dim]
	j := 0
	for ; j+4 <= n; j += 4 {
		o := j * dim
		out[j], out[j+1], out[j+2], out[j+3] = dot4(q, vecs[o:o+dim], vecs[o+dim:o+2*dim],
			vecs[o+2*dim:o+3*dim], vecs[o+3*dim:o+4*dim])
	}
	for ; j < n; j++ {
		out[j] = dot(q, vecs[j*dim:(j+1)*dim])
	}
}

// nearest is the index of the vector of vecs (len(q) floats each) with the largest dot product with
// q, the lowest index on a tie; -1 when vecs is empty.
func nearest(q, vecs []float32) int {
	dim := len(q)
	n := len(vecs) / dim
	best, bestScore := -1, float32(math.Inf(-1))
	j := 0
	for ; j+4 <= n; j += 4 {
		o := j * dim
		s0, s1, s2, s3 := dot4(q, vecs[o:o+dim], vecs[o+dim:o+2*dim], vecs[o+2*dim:o+3*dim], vecs[o+3*dim:o+4*dim])
		if s0 > bestScore {
			best, bestScore = j, s0
		}
		if s1 > bestScore {
			best, bestScore = j+1, s1
		}
		if s2 > bestScore {
			best, bestScore = j+2, s2
		}
		if s3 > bestScore {
			best, bestScore = j+3, s3
		}
	}
	for ; j < n; j++ {
		if s := dot(q, vecs[j*dim:(j+1)*dim]); s > bestScore {
			best, bestScore = j, s
		}
	}
	return best
}

// normalise writes v scaled to unit length into dst (len(v) long). It fails on a zero vector or a
// component that is NaN or infinite. The length is summed in float64, where the square of any finite
// float32 neither overflows nor underflows to zero.
func normalise(dst, v []float32) error {
	dst = dst[:len(v)]
	var ss float64
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return ErrNotFinite
		}
		ss += f * f
	}
	if ss == 0 {
		return ErrZeroVector
	}
	inv := 1 / math.Sqrt(ss)
	for i, x := range v {
		dst[i] = float32(float64(x) * inv)
	}
	return nil
}
