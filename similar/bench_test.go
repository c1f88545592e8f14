package similar

import (
	"bytes"
	"sync"
	"testing"

	"github.com/guided-response/guided/similar/internal/clustered"
)

// The benchmarks share one built index of 100,000 clustered 64-dimensional vectors. For the figures
// at a million, run similar/cmd/annbench.
var bench struct {
	once    sync.Once
	ix      *Index
	queries [][]float32
	gen     *clustered.Generator
}

func benchIndex(b *testing.B) (*Index, [][]float32) {
	b.Helper()
	bench.once.Do(func() {
		const n, dim = 100_000, 64
		bench.gen = clustered.New(clustered.Spec{Dim: dim, Seed: 41})
		bench.ix = New(dim, Options{Seed: 1})
		for i := range n {
			if err := bench.ix.Add(uint64(i), bench.gen.Next(nil)); err != nil {
				panic(err)
			}
		}
		if err := bench.ix.Build(); err != nil {
			panic(err)
		}
		for range 1000 {
			bench.queries = append(bench.queries, bench.gen.Next(nil))
		}
	})
	return bench.ix, bench.queries
}

func BenchmarkSearch(b *testing.B) {
	ix, queries := benchIndex(b)
	var recall float64
	for i := 0; b.Loop(); i++ {
		q := queries[i%len(queries)]
		got, err := ix.Search(q, 10)
		if err != nil {
			b.Fatal(err)
		}
		if i < len(queries) {
			b.StopTimer()
			want, _ := ix.Exact(q, 10)
			recall += Recall(got, want)
			b.StartTimer()
		}
	}
	b.ReportMetric(recall/float64(min(b.N, len(queries))), "recall@10")
}

func BenchmarkExact(b *testing.B) {
	ix, queries := benchIndex(b)
	for i := 0; b.Loop(); i++ {
		if _, err := ix.Exact(queries[i%len(queries)], 10); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddAfterBuild(b *testing.B) {
	shared, _ := benchIndex(b)
	var file bytes.Buffer
	if _, err := shared.WriteTo(&file); err != nil {
		b.Fatal(err)
	}
	ix, err := ReadIndex(&file) // a copy, so the other benchmarks keep their index
	if err != nil {
		b.Fatal(err)
	}
	vecs := make([][]float32, 1000)
	for i := range vecs {
		vecs[i] = bench.gen.Next(nil)
	}
	base := uint64(1 << 40)
	for i := 0; b.Loop(); i++ {
		base++
		if err := ix.Add(base, vecs[i%len(vecs)]); err != nil {
			b.Fatal(err)
		}
	}
}
