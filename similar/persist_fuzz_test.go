package similar

import (
	"bytes"
	"testing"
)

// FuzzReadIndex: whatever the bytes, ReadIndex returns an index or an error, never panics, and an
// index it returns searches and writes itself back the same.
func FuzzReadIndex(f *testing.F) {
	small := New(3, Options{Lists: 2, Seed: 1})
	for i, v := range [][]float32{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}} {
		must(f, small.Add(uint64(i), v))
	}
	for _, ix := range []*Index{New(2, Options{}), small} {
		var buf bytes.Buffer
		if _, err := ix.WriteTo(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := ReadIndex(bytes.NewReader(b))
		if err != nil {
			return
		}
		q := make([]float32, ix.Dim())
		q[0] = 1
		if _, err := ix.Search(q, 3); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := ix.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), b) {
			t.Fatal("a file that reads does not write back the same")
		}
	})
}
