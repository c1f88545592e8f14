package learn

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sync"

	"github.com/guided-response/guided/guide"
)

// EmbedVersion names the embedding; vectors of different versions are not comparable.
const EmbedVersion = "embed-v1"

// EmbedDim is the length of an incident's embedding.
const EmbedDim = 128

// Embedder makes an incident's similar-incident embedding: the incident's categorical values as tokens
// (organisation, detectors, alert titles, categories, techniques, entity types, evidence roles,
// suspicion levels, verdicts, threat families, roles, OS families, countries, and buckets of its size),
// each weighted by tf-idf (tf = 1 + ln(rows carrying it), idf from the training incidents), projected
// to EmbedDim dimensions by signed feature hashing, then L2-normalised: cosine similarity is the dot
// product. It never reads the grade or the actions.
type Embedder struct {
	Version string `json:"version"`
	Dim     int    `json:"dim"`
	// Docs is the number of training incidents; IDF holds the idf of the tokens seen in at least two of
	// them (keyed by token hash); other tokens get UnseenIDF.
	Docs      int                `json:"docs"`
	IDF       map[uint64]float32 `json:"idf"`
	UnseenIDF float32            `json:"unseenIdf"`
}

// token is a hashed token and its term weight.
type token struct {
	h  uint64
	tf float64
}

// Token kinds, mixed into the hash so that equal values of different columns differ.
const (
	tokOrg = iota + 1
	tokDetector
	tokTitle
	tokCategory
	tokTechnique
	tokEntity
	tokRole
	tokSuspicion
	tokVerdict
	tokThreatFamily
	tokRoles
	tokOSFamily
	tokCountry
	tokAlerts
	tokRows
)

func tokens(inc *guide.Incident, dst []token) []token {
	tf := func(n int32) float64 { return 1 + math.Log(math.Max(float64(n), 1)) }
	ints := func(kind int64, list []guide.Count[int64]) {
		for _, c := range list {
			dst = append(dst, token{pairKey(kind, c.Value), tf(c.N)})
		}
	}
	strs := func(kind int64, list []guide.Count[string]) {
		for _, c := range list {
			if c.Value != "" {
				dst = append(dst, token{pairKey(kind, int64(hashString(c.Value))), tf(c.N)})
			}
		}
	}
	dst = append(dst, token{pairKey(tokOrg, inc.Key.OrgID), 1})
	ints(tokDetector, inc.Detectors)
	ints(tokTitle, inc.AlertTitles)
	strs(tokCategory, inc.Categories)
	strs(tokTechnique, inc.Techniques)
	strs(tokEntity, inc.EntityTypes)
	strs(tokRole, inc.EvidenceRoles)
	strs(tokSuspicion, inc.SuspicionLevel)
	strs(tokVerdict, inc.LastVerdicts)
	strs(tokThreatFamily, inc.ThreatFamilies)
	strs(tokRoles, inc.Roles)
	ints(tokOSFamily, inc.OSFamilies)
	ints(tokCountry, inc.Countries)
	bucket := func(n int32) int64 { return int64(math.Floor(math.Log2(float64(max(n, 1))))) }
	dst = append(dst, token{pairKey(tokAlerts, bucket(inc.Alerts)), 1}, token{pairKey(tokRows, bucket(inc.Rows)), 1})
	return dst
}

// FitEmbedder learns the idf of the tokens of the training incidents.
func FitEmbedder(train []*guide.Incident) *Embedder {
	df := map[uint64]int32{}
	var buf []token
	for _, inc := range train {
		buf = tokens(inc, buf[:0])
		for _, t := range buf {
			df[t.h]++
		}
	}
	n := float64(len(train))
	e := &Embedder{Version: EmbedVersion, Dim: EmbedDim, Docs: len(train), IDF: map[uint64]float32{}}
	idf := func(d float64) float32 { return float32(math.Log((1+n)/(1+d)) + 1) }
	for h, d := range df {
		if d >= 2 {
			e.IDF[h] = idf(float64(d))
		}
	}
	e.UnseenIDF = idf(1)
	return e
}

// Embed is the incident's unit-length embedding, into dst when large enough.
func (e *Embedder) Embed(inc *guide.Incident, dst []float32) []float32 {
	if cap(dst) < e.Dim {
		dst = make([]float32, e.Dim)
	}
	v := dst[:e.Dim]
	clear(v)
	var buf [48]token
	for _, t := range tokens(inc, buf[:0]) {
		idf, ok := e.IDF[t.h]
		if !ok {
			idf = e.UnseenIDF
		}
		w := float32(t.tf) * idf
		// The bucket from the low bits, the sign from the top bit of a remix of the hash.
		j := t.h % uint64(e.Dim)
		if pairKey(int64(t.h), 0x5bd1e995)>>63 == 1 {
			w = -w
		}
		v[j] += w
	}
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s > 0 {
		inv := float32(1 / math.Sqrt(s))
		for i := range v {
			v[i] *= inv
		}
	}
	return v
}

// Cosine is the cosine similarity of a and b.
func Cosine(a, b []float32) float32 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return float32(dot / math.Sqrt(na*nb))
}

// dot is the dot product of two vectors of the same length (cosine of unit vectors), summed as dot4
// sums, so that both give the same similarities.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1 float32
	i := 0
	for ; i+1 < len(a); i += 2 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
	}
	if i < len(a) {
		s0 += a[i] * b[i]
	}
	return s0 + s1
}

// Neighbour is a corpus vector near a query.
type Neighbour struct {
	Index      int
	Similarity float32
}

// Vectors are unit vectors of one length, stored one after another; in JSON, the little-endian float32s
// in base64.
type Vectors struct {
	Dim  int
	Data []float32
}

// Len is the number of vectors.
func (v *Vectors) Len() int {
	if v.Dim == 0 {
		return 0
	}
	return len(v.Data) / v.Dim
}

// At is vector i.
func (v *Vectors) At(i int) []float32 { return v.Data[i*v.Dim : (i+1)*v.Dim] }

// Append adds a vector.
func (v *Vectors) Append(x []float32) { v.Data = append(v.Data, x...) }

type vectorsJSON struct {
	Dim  int    `json:"dim"`
	Data string `json:"data"`
}

// MarshalJSON writes the vectors compactly.
func (v Vectors) MarshalJSON() ([]byte, error) {
	b := make([]byte, 4*len(v.Data))
	for i, x := range v.Data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return json.Marshal(vectorsJSON{Dim: v.Dim, Data: base64.StdEncoding.EncodeToString(b)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (v *Vectors) UnmarshalJSON(data []byte) error {
	var j vectorsJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	b, err := base64.StdEncoding.DecodeString(j.Data)
	if err != nil {
		return fmt.Errorf("vectors: %w", err)
	}
	if len(b)%4 != 0 || j.Dim < 0 || (j.Dim > 0 && (len(b)/4)%j.Dim != 0) || (j.Dim == 0 && len(b) > 0) {
		return fmt.Errorf("vectors: %d bytes are not whole vectors of %d dimensions", len(b), j.Dim)
	}
	v.Dim = j.Dim
	v.Data = make([]float32, len(b)/4)
	for i := range v.Data {
		v.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return nil
}

// Nearest is the k corpus vectors most similar to the query (dot product of unit vectors), most similar
// first (ties: lower index first), by exact brute-force search: len(corpus)·dim multiply-adds. skip,
// when not nil, leaves out corpus vectors it returns true for.
func Nearest(query []float32, corpus *Vectors, k int, skip func(i int) bool) []Neighbour {
	top := make([]Neighbour, 0, k+1)
	n := corpus.Len()
	for i := range n {
		if skip != nil && skip(i) {
			continue
		}
		top = insertTop(top, k, i, dot(query, corpus.At(i)))
	}
	return top
}

// NearestAll runs Nearest for each query, the queries split between workers; four queries at a time
// share each pass over the corpus.
func NearestAll(queries, corpus *Vectors, k, workers int) [][]Neighbour {
	out := make([][]Neighbour, queries.Len())
	if workers < 1 {
		workers = 1
	}
	const block = 4
	var wg sync.WaitGroup
	next := make(chan int, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q0 := range next {
				q1 := min(q0+block, len(out))
				if q1-q0 < block || corpus.Dim%2 != 0 {
					for q := q0; q < q1; q++ {
						out[q] = Nearest(queries.At(q), corpus, k, nil)
					}
					continue
				}
				var tops [block][]Neighbour
				for j := range tops {
					tops[j] = make([]Neighbour, 0, k+1)
				}
				a, b, c, d := queries.At(q0), queries.At(q0+1), queries.At(q0+2), queries.At(q0+3)
				for i := range corpus.Len() {
					sa, sb, sc, sd := dot4(a, b, c, d, corpus.At(i))
					tops[0] = insertTop(tops[0], k, i, sa)
					tops[1] = insertTop(tops[1], k, i, sb)
					tops[2] = insertTop(tops[2], k, i, sc)
					tops[3] = insertTop(tops[3], k, i, sd)
				}
				for j := range tops {
					out[q0+j] = tops[j]
				}
			}
		}()
	}
	for q := 0; q < len(out); q += block {
		next <- q
	}
	close(next)
	wg.Wait()
	return out
}

// dot4 is the dot products of four queries with one vector (of even length).
func dot4(a, b, c, d, v []float32) (float32, float32, float32, float32) {
	n := len(v)
	a, b, c, d = a[:n], b[:n], c[:n], d[:n]
	var a0, a1, b0, b1, c0, c1, d0, d1 float32
	for i := 0; i+1 < n; i += 2 {
		v0, v1 := v[i], v[i+1]
		a0 += a[i] * v0
		a1 += a[i+1] * v1
		b0 += b[i] * v0
		b1 += b[i+1] * v1
		c0 += c[i] * v0
		c1 += c[i+1] * v1
		d0 += d[i] * v0
		d1 += d[i+1] * v1
	}
	return a0 + a1, b0 + b1, c0 + c1, d0 + d1
}

// insertTop adds (i, s) to top, kept sorted (similarity descending, index ascending) and at most k long.
func insertTop(top []Neighbour, k, i int, s float32) []Neighbour {
	if len(top) == k && s <= top[k-1].Similarity {
		return top
	}
	j := len(top)
	top = append(top, Neighbour{})
	for j > 0 && top[j-1].Similarity < s {
		top[j] = top[j-1]
		j--
	}
	top[j] = Neighbour{Index: i, Similarity: s}
	if len(top) > k {
		top = top[:k]
	}
	return top
}
