package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/store"
)

const importGuideUsage = `usage: starter import-guide [flags] FILE.csv...

Imports Microsoft's GUIDE dataset (GUIDE_Train.csv, GUIDE_Test.csv, or files of the same format) as
historical incidents the models learn from: rows are streamed and grouped by (OrgId, IncidentId), each
incident stored once (importing again changes nothing; a file imported before is skipped unless --force).
Malformed rows are counted, listed with their line numbers in FILE.malformed.txt, and never stop the
import. Without DATABASE_URL it uses the dev stack's database (worker --dev).

`

// importFlags are import-guide's flags.
type importFlags struct {
	tokenFlags
	force    bool
	batch    int
	progress string
}

// runImportGuide runs `starter import-guide`.
func runImportGuide(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f importFlags
	fs := flag.NewFlagSet("starter import-guide", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importGuideUsage); fs.PrintDefaults() }
	f.tokenFlags.register("import-guide", fs)
	fs.BoolVar(&f.force, "force", false, "import a file again even if it was imported before")
	fs.IntVar(&f.batch, "batch", 2000, "incidents stored per transaction")
	fs.StringVar(&f.progress, "progress", "auto", "progress bar: auto (on a terminal), on, off")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fs.Usage()
		return errors.New("import-guide: name at least one GUIDE CSV file")
	}
	if f.batch < 1 || f.batch > 50000 {
		return errors.New("import-guide: --batch must be from 1 to 50000")
	}
	for _, path := range files {
		if st, err := os.Stat(path); err != nil {
			return fmt.Errorf("import-guide: %w", err)
		} else if st.IsDir() {
			return fmt.Errorf("import-guide: %s is a directory: name the CSV files", path)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	db, err := connectTokenDB(cctx, &f.tokenFlags)
	cancel()
	if err != nil {
		return err
	}
	defer db.Close()
	logger := hclog.New(&hclog.LoggerOptions{Name: "import-guide", Level: hclog.LevelFromString(f.logLevel), Output: stderr})
	st := store.New(db, logger)
	showProgress := f.progress == "on" || (f.progress == "auto" && isTerminal(stderr))
	for _, path := range files {
		// ctx ends on Ctrl-C: the import stops where it is, and a second run takes it up again.
		if err := importFile(ctx, st, path, &f, showProgress, stdout, stderr); err != nil {
			return err
		}
	}
	return nil
}

// importFile imports one file: stream, aggregate, store in batches, record it as finished.
func importFile(ctx context.Context, st *store.Store, path string, f *importFlags, showProgress bool, stdout, stderr io.Writer) error {
	fp, size, err := fingerprint(path)
	if err != nil {
		return fmt.Errorf("import-guide %s: %w", path, err)
	}
	if !f.force {
		done, err := st.FinishedImport(ctx, fp)
		if err == nil {
			fmt.Fprintf(stdout, "%s: imported before (%s): %d rows, %d malformed, %d incidents; --force imports it again\n",
				path, done.FinishedAt.Format(time.RFC3339), done.Rows, done.Malformed, done.Incidents)
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import-guide: %w", err)
	}
	defer file.Close()
	counted := &countingReader{r: file}
	reader, err := guide.NewReader(counted, path)
	if err != nil {
		return fmt.Errorf("import-guide: %w", err)
	}
	report, err := os.Create(path + ".malformed.txt")
	if err != nil {
		return fmt.Errorf("import-guide: the malformed-row report: %w", err)
	}
	defer report.Close()

	agg := guide.NewAggregator()
	var rows, malformed int64
	start := time.Now()
	bar := newProgress(stderr, showProgress, path, size)
	for {
		row, err := reader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var rowErr *guide.RowError
		if errors.As(err, &rowErr) {
			malformed++
			fmt.Fprintln(report, rowErr.Error())
			if malformed <= 5 {
				bar.note("malformed row: " + rowErr.Error())
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("import-guide %s: %w (after %d rows)", path, err, rows)
		}
		rows++
		agg.Add(row)
		if rows%8192 == 0 {
			bar.update(counted.n.Load(), rows, malformed, agg.Len())
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("import-guide %s: interrupted after reading %d rows, before storing any incident of the file: run it again", path, rows)
			}
		}
	}
	bar.update(counted.n.Load(), rows, malformed, agg.Len())
	// Stored in batches straight from the aggregator: the incidents are never copied whole.
	total := agg.Len()
	var written int64
	stored := 0
	batch := make([]guide.Incident, 0, f.batch)
	flush := func() error {
		n, err := st.UpsertHistorical(ctx, store.SourceGUIDE, batch)
		if err != nil {
			return fmt.Errorf("import-guide %s: %w (%d of %d incidents stored; run it again to finish: it is idempotent)", path, err, stored, total)
		}
		written += n
		stored += len(batch)
		batch = batch[:0]
		bar.storing(stored, total)
		return nil
	}
	for inc := range agg.All() {
		batch = append(batch, inc)
		if len(batch) == f.batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	bar.done()
	if err := st.RecordImport(ctx, store.GuideImport{Fingerprint: fp, Path: path, Rows: rows, Malformed: malformed, Incidents: int64(total)}); err != nil {
		return err
	}
	if malformed == 0 {
		_ = report.Close()
		_ = os.Remove(path + ".malformed.txt")
	}
	fmt.Fprintf(stdout, "%s: %d rows, %d incidents (%d new or changed), %d malformed rows%s, in %s\n", path, rows, total, written,
		malformed, malformedWhere(malformed, path), time.Since(start).Round(time.Millisecond))
	return nil
}

func malformedWhere(n int64, path string) string {
	if n == 0 {
		return ""
	}
	return " (listed in " + path + ".malformed.txt)"
}

// fingerprint identifies a file cheaply: its size and SHA-256 of its first and last MiB.
func fingerprint(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", st.Size())
	if _, err := io.CopyN(h, f, 1<<20); err != nil && !errors.Is(err, io.EOF) {
		return "", 0, err
	}
	if st.Size() > 2<<20 {
		if _, err := f.Seek(-(1 << 20), io.SeekEnd); err != nil {
			return "", 0, err
		}
		if _, err := io.Copy(h, f); err != nil {
			return "", 0, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), st.Size(), nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress draws a one-line progress bar on a terminal (nothing otherwise), at most five times a second.
type progress struct {
	w     io.Writer
	on    bool
	name  string
	size  int64
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, on bool, name string, size int64) *progress {
	return &progress{w: w, on: on, name: name, size: size, start: time.Now()}
}

func (p *progress) update(read, rows, malformed int64, incidents int) {
	if !p.on || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	frac := 0.0
	if p.size > 0 {
		frac = float64(read) / float64(p.size)
	}
	const width = 30
	filled := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < filled {
			bar[i] = '#'
		}
	}
	elapsed := time.Since(p.start).Seconds()
	rate := float64(rows) / max(elapsed, 0.001)
	eta := ""
	if frac > 0.01 {
		eta = " ETA " + (time.Duration(elapsed/frac*(1-frac)) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3.0f%% %s rows %s/s, %d incidents, %d malformed%s   ", p.name, bar, frac*100,
		strconv.FormatInt(rows, 10), strconv.FormatFloat(rate, 'f', 0, 64), incidents, malformed, eta)
}

func (p *progress) storing(done, total int) {
	if !p.on || (time.Since(p.last) < 200*time.Millisecond && done < total) {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r%s: storing incidents %d/%d                                                     ", p.name, done, total)
}

func (p *progress) note(msg string) {
	if p.on {
		fmt.Fprintf(p.w, "\r%s\n", msg)
	}
}

func (p *progress) done() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}
