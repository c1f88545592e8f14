package similar

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// The file format, version 1. Every integer is little-endian; floats are IEEE 754 binary32.
//
//	magic        8 bytes  "GRSIMIDX"
//	version      uint32   1
//	dim          uint32
//	lists        uint32   number of lists
//	centroids    uint32   1 when centroids follow (2 or more lists); 0 for a flat index, whose lists
//	                      are chunks searched in full
//	options      uint32 Lists, Probes, TrainingPoints, Iterations; uint64 Seed (Workers is not kept)
//	builtLen     uint64
//	count        uint64   vectors in all lists
//	centroids    lists*dim float32, when present
//	each list:   uint64 n; n uint64 IDs; n*dim float32 unit vectors
//	checksum     uint32   CRC-32C of every byte after the magic
//
// A reader refuses a file of another version; a later version that changes the layout gets a new
// number and ReadIndex keeps reading the old ones.
const (
	fileMagic   = "GRSIMIDX"
	fileVersion = 1
	maxLists    = 1 << 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteTo writes the index in the versioned binary format ReadIndex reads. It writes a consistent
// snapshot without holding up Search or Add (vectors added meanwhile are not in the file), and
// buffers its writes, so w need not be buffered.
func (ix *Index) WriteTo(w io.Writer) (int64, error) {
	ix.mu.RLock()
	lists := slices.Clone(ix.lists)
	centroids, n, builtLen := ix.centroids, ix.n, ix.builtLen
	ix.mu.RUnlock()

	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<16)
	crc := crc32.New(castagnoli)
	e := encoder{w: io.MultiWriter(bw, crc)}
	if _, err := bw.WriteString(fileMagic); err != nil {
		return cw.n, fmt.Errorf("similar: write index: %w", err)
	}
	e.u32(fileVersion)
	e.u32(uint32(ix.dim))
	e.u32(uint32(len(lists)))
	e.u32(boolU32(centroids != nil))
	o := ix.opts
	for _, v := range []int{o.Lists, o.Probes, o.TrainingPoints, o.Iterations} {
		e.u32(uint32(min(v, math.MaxUint32)))
	}
	e.u64(o.Seed)
	e.u64(uint64(builtLen))
	e.u64(uint64(n))
	e.floats(centroids)
	for _, l := range lists {
		e.u64(uint64(len(l.ids)))
		e.ids(l.ids)
		e.floats(l.vecs[:len(l.ids)*ix.dim])
	}
	binary.LittleEndian.PutUint32(e.buf[:4], crc.Sum32())
	e.write(e.buf[:4])
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err != nil {
		return cw.n, fmt.Errorf("similar: write index: %w", e.err)
	}
	return cw.n, nil
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// ReadIndex reads an index written by WriteTo. It checks the file as it goes (version, sizes, that
// every vector is finite and every ID unique, the checksum) and fails with an error wrapping
// ErrFormat on anything else; it never allocates much more than the file's real contents, whatever
// its header claims. r is read through a buffer.
func ReadIndex(r io.Reader) (*Index, error) {
	ix, err := readIndex(r)
	if err != nil {
		return nil, fmt.Errorf("similar: read index: %w", err)
	}
	return ix, nil
}

func readIndex(r io.Reader) (*Index, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic := make([]byte, len(fileMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != fileMagic {
		return nil, fmt.Errorf("no %q header (is this a similar index file?): %w", fileMagic, ErrFormat)
	}
	crc := crc32.New(castagnoli)
	d := decoder{r: io.TeeReader(br, crc)}
	version := d.u32()
	if d.err == nil && version != fileVersion {
		return nil, fmt.Errorf("version %d; this build reads version %d: %w", version, fileVersion, ErrFormat)
	}
	dim, nlist, hasCentroids := d.u32(), d.u32(), d.u32()
	var o Options
	o.Lists, o.Probes, o.TrainingPoints, o.Iterations = int(d.u32()), int(d.u32()), int(d.u32()), int(d.u32())
	o.Seed = d.u64()
	builtLen, count := d.u64(), d.u64()
	if d.err != nil {
		return nil, d.fail("header")
	}
	switch {
	case dim < 1 || dim > MaxDim:
		return nil, fmt.Errorf("dimension %d: %w", dim, ErrFormat)
	case nlist < 1 || nlist > maxLists:
		return nil, fmt.Errorf("%d lists: %w", nlist, ErrFormat)
	case hasCentroids > 1 || (hasCentroids == 1 && nlist < 2):
		return nil, fmt.Errorf("centroid flag %d with %d lists: %w", hasCentroids, nlist, ErrFormat)
	case o.Lists > maxLists || o.Probes > maxLists || o.Iterations > 1<<20 || o.TrainingPoints > math.MaxInt32:
		return nil, fmt.Errorf("options %+v out of range: %w", o, ErrFormat)
	case count > 1<<40 || builtLen > count:
		return nil, fmt.Errorf("%d vectors, %d at the last build: %w", count, builtLen, ErrFormat)
	}
	ix := New(int(dim), o)
	ix.builtLen = int(builtLen)
	if hasCentroids == 1 {
		ix.centroids = d.floats(nil, int(nlist)*int(dim))
		if d.err != nil {
			return nil, d.fail("centroids")
		}
	}
	// A flat index's list count is not yet backed by data read: grow the lists as they come.
	ix.lists = make([]postingList, 0, min(nlist, 1<<12))
	total := uint64(0)
	for i := range int(nlist) {
		m := d.u64()
		if d.err != nil {
			return nil, d.fail(fmt.Sprintf("list %d", i))
		}
		if total += m; m > count || total > count {
			return nil, fmt.Errorf("list %d holds %d vectors, more than the %d of the header: %w", i, m, count, ErrFormat)
		}
		ix.lists = append(ix.lists, postingList{})
		l := &ix.lists[i]
		l.ids = d.ids(int(m))
		l.vecs = d.floats(nil, int(m)*int(dim))
		if d.err != nil {
			return nil, d.fail(fmt.Sprintf("list %d", i))
		}
		for _, id := range l.ids {
			if _, dup := ix.ids[id]; dup {
				return nil, fmt.Errorf("id %d stored twice: %w", id, ErrFormat)
			}
			ix.ids[id] = struct{}{}
		}
	}
	if total != count {
		return nil, fmt.Errorf("lists hold %d vectors, the header says %d: %w", total, count, ErrFormat)
	}
	ix.n = int(count)
	want := crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(br, sum[:]); err != nil {
		return nil, fmt.Errorf("no checksum at the end (truncated?): %w", ErrFormat)
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != want {
		return nil, fmt.Errorf("checksum %08x, contents give %08x (corrupt file): %w", got, want, ErrFormat)
	}
	return ix, nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian values and keeps the first error.
type encoder struct {
	w   io.Writer
	buf [1 << 12]byte
	err error
}

func (e *encoder) write(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:4], v)
	e.write(e.buf[:4])
}

func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:8], v)
	e.write(e.buf[:8])
}

func (e *encoder) floats(fs []float32) {
	for len(fs) > 0 {
		chunk := fs[:min(len(fs), len(e.buf)/4)]
		for i, f := range chunk {
			binary.LittleEndian.PutUint32(e.buf[4*i:], math.Float32bits(f))
		}
		e.write(e.buf[:4*len(chunk)])
		fs = fs[len(chunk):]
	}
}

func (e *encoder) ids(ids []uint64) {
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), len(e.buf)/8)]
		for i, id := range chunk {
			binary.LittleEndian.PutUint64(e.buf[8*i:], id)
		}
		e.write(e.buf[:8*len(chunk)])
		ids = ids[len(chunk):]
	}
}

// decoder reads little-endian values and keeps the first error. Slices grow as data arrives, so a
// header that lies about a size runs into the end of the file before it can cost memory.
type decoder struct {
	r   io.Reader
	buf [1 << 12]byte
	err error
}

// fail describes the first error, naming the part of the file being read.
func (d *decoder) fail(part string) error {
	if errors.Is(d.err, ErrFormat) {
		return fmt.Errorf("%s: %w", part, d.err)
	}
	if errors.Is(d.err, io.EOF) || errors.Is(d.err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: file ends early (truncated?): %w", part, ErrFormat)
	}
	return fmt.Errorf("%s: %w", part, d.err)
}

func (d *decoder) read(n int) []byte {
	if d.err != nil {
		return nil
	}
	if _, err := io.ReadFull(d.r, d.buf[:n]); err != nil {
		d.err = err
		return nil
	}
	return d.buf[:n]
}

func (d *decoder) u32() uint32 {
	if b := d.read(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.read(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// grow is how many elements a slice read from the file may be given ahead of its data.
const grow = 1 << 16

// floats appends n finite floats to dst.
func (d *decoder) floats(dst []float32, n int) []float32 {
	dst = slices.Grow(dst, min(n, grow))
	for n > 0 && d.err == nil {
		m := min(n, len(d.buf)/4)
		b := d.read(4 * m)
		if b == nil {
			break
		}
		at := len(dst)
		dst = slices.Grow(dst, m)[:at+m]
		out := dst[at:]
		for i := range out {
			bits := binary.LittleEndian.Uint32(b[4*i:])
			if bits&0x7f80_0000 == 0x7f80_0000 { // exponent all ones: NaN or infinite
				d.err = fmt.Errorf("a NaN or infinite float: %w", ErrFormat)
				return dst[:at]
			}
			out[i] = math.Float32frombits(bits)
		}
		n -= m
	}
	return dst
}

// ids reads n IDs.
func (d *decoder) ids(n int) []uint64 {
	dst := make([]uint64, 0, min(n, grow))
	for n > 0 && d.err == nil {
		m := min(n, len(d.buf)/8)
		b := d.read(8 * m)
		if b == nil {
			break
		}
		for i := range m {
			dst = append(dst, binary.LittleEndian.Uint64(b[8*i:]))
		}
		n -= m
	}
	return dst
}
