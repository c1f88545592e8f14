package similar

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// builtIndex is a small built index with vectors added after the Build, so lists have tails.
func builtIndex(t testing.TB) (*Index, [][]float32) {
	t.Helper()
	const n, dim = 3000, 16
	vecs := clusteredVectors(21, n+100, dim)
	ix := fill(t, dim, Options{Lists: 30, Probes: 4, Seed: 5}, sequentialIDs(n), vecs[:n])
	must(t, ix.Build())
	for i := n; i < n+100; i++ {
		must(t, ix.Add(uint64(1000+i), vecs[i]))
	}
	return ix, vecs
}

func roundTrip(t testing.TB, ix *Index) (*Index, []byte) {
	t.Helper()
	var buf bytes.Buffer
	size, err := ix.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d bytes, wrote %d", size, buf.Len())
	}
	file := bytes.Clone(buf.Bytes())
	back, err := ReadIndex(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return back, file
}

func TestRoundTripGivesIdenticalResults(t *testing.T) {
	built, vecs := builtIndex(t)
	unbuilt := fill(t, 16, Options{}, sequentialIDs(500), vecs[:500])
	for name, ix := range map[string]*Index{"built": built, "unbuilt": unbuilt, "empty": New(5, Options{})} {
		t.Run(name, func(t *testing.T) {
			back, file := roundTrip(t, ix)
			if got, want := back.Stats(), ix.Stats(); got != want {
				t.Fatalf("Stats() after round trip = %+v, want %+v", got, want)
			}
			if back.opts != ix.opts {
				t.Fatalf("options after round trip = %+v, want %+v", back.opts, ix.opts)
			}
			rng := rand.New(rand.NewPCG(8, 8))
			for range 100 {
				q := randomVectors(rng, 1, ix.Dim())[0]
				sameHits(t, "Search", mustSearch(t, back, q, 10), mustSearch(t, ix, q, 10), 0)
				sameHits(t, "Exact", mustExact(t, back, q, 10), mustExact(t, ix, q, 10), 0)
			}
			// Written again, the file is the same bytes.
			if _, again := roundTrip(t, back); !bytes.Equal(again, file) {
				t.Fatal("a read index writes a different file")
			}
			// The read index takes Adds (and refuses the IDs it holds) and Builds.
			if ix.Len() > 0 {
				if err := back.Add(1000, vecs[0][:ix.Dim()]); !errors.Is(err, ErrDuplicateID) {
					t.Fatalf("Add of a stored ID after ReadIndex: %v, want ErrDuplicateID", err)
				}
			}
			must(t, back.Add(1<<60, randomVectors(rng, 1, ix.Dim())[0]))
			must(t, back.Build())
		})
	}
}

func TestReadIndexRejectsBadFiles(t *testing.T) {
	ix, _ := builtIndex(t)
	_, file := roundTrip(t, ix)
	corrupt := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(file)) }
	for name, b := range map[string][]byte{
		"empty":       nil,
		"other file":  []byte("%PDF-1.7 and more bytes than the header"),
		"version 2":   corrupt(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 2); return b }),
		"dimension 0": corrupt(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 0); return b }),
		"huge count":  corrupt(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[56:], 1<<39); return b }),
		"flipped bit": corrupt(func(b []byte) []byte { b[len(b)/2] ^= 4; return b }),
		"bad sum":     corrupt(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		"extra list":  corrupt(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 31); return b }),
	} {
		if _, err := ReadIndex(bytes.NewReader(b)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: ReadIndex: %v, want ErrFormat", name, err)
		}
	}
	for cut := 0; cut < len(file); cut += 1 + cut/3 {
		if _, err := ReadIndex(bytes.NewReader(file[:cut])); !errors.Is(err, ErrFormat) {
			t.Fatalf("cut at %d of %d bytes: ReadIndex: %v, want ErrFormat", cut, len(file), err)
		}
	}
	if _, err := ReadIndex(bytes.NewReader(file[:len(file)-1])); !errors.Is(err, ErrFormat) {
		t.Fatalf("without the last byte: ReadIndex: %v, want ErrFormat", err)
	}
}

// errWriter fails after n bytes.
type errWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteToReportsWriteErrors(t *testing.T) {
	ix, _ := builtIndex(t)
	n, err := ix.WriteTo(&errWriter{n: 100_000})
	if !errors.Is(err, errDiskFull) || n != 100_000 {
		t.Fatalf("WriteTo = %d, %v; want 100000 bytes and the writer's error", n, err)
	}
}
