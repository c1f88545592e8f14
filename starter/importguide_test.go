package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/internal/guidegen"
	"github.com/guided-response/guided/store"
)

// TestImportGuide imports a generated GUIDE file with malformed rows: every incident once, every malformed
// row reported with its line, a second run a no-op, --force idempotent.
func TestImportGuide(t *testing.T) {
	db := tokenDB(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "GUIDE_Train.csv")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := guidegen.Generate(out, guidegen.Options{Rows: 20000, Orgs: 40, Seed: 7, MalformedEvery: 997})
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if sum.Malformed == 0 {
		t.Fatal("the generator made no malformed rows")
	}
	// What the import must find: the reader's own count.
	want, stats, err := guide.ReadFiles([]string{path}, func(*guide.RowError) {})
	if err != nil {
		t.Fatal(err)
	}

	importOnce := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := runImportGuide(context.Background(), append(args, path), &stdout, &stderr); err != nil {
			t.Fatalf("import-guide: %v\n%s", err, stderr.String())
		}
		return stdout.String()
	}
	first := importOnce("--progress", "on")
	m := regexp.MustCompile(`(\d+) rows, (\d+) incidents \((\d+) new or changed\), (\d+) malformed rows`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("import said %q", first)
	}
	if m[1] != strconv.Itoa(stats.Rows) || m[2] != strconv.Itoa(len(want)) || m[3] != m[2] || m[4] != strconv.Itoa(sum.Malformed) {
		t.Fatalf("import said %q; want %d rows, %d incidents, %d malformed", first, stats.Rows, len(want), sum.Malformed)
	}
	report, err := os.ReadFile(path + ".malformed.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(report)), "\n")
	if len(lines) != sum.Malformed || !regexp.MustCompile(`GUIDE_Train\.csv:\d+: `).MatchString(lines[0]) {
		t.Fatalf("malformed report: %d lines (want %d), first %q", len(lines), sum.Malformed, lines[0])
	}

	st := store.New(db, nil)
	counts, err := st.CountHistorical(context.Background())
	if err != nil || counts[store.SourceGUIDE] != int64(len(want)) {
		t.Fatalf("stored %v (%v), want %d", counts, err, len(want))
	}
	var grades, actions int
	if err := st.EachHistorical(context.Background(), store.SourceGUIDE, func(h store.HistoricalIncident) error {
		if h.Incident.Grade.Valid() {
			grades++
		}
		if len(h.Incident.Actions) > 0 {
			actions++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if grades < len(want)*9/10 || actions == 0 {
		t.Errorf("%d of %d incidents graded, %d with actions", grades, len(want), actions)
	}

	if second := importOnce(); !strings.Contains(second, "imported before") {
		t.Errorf("second import: %q", second)
	}
	forced := importOnce("--force")
	if !strings.Contains(forced, "(0 new or changed)") {
		t.Errorf("forced import changed rows: %q", forced)
	}

	var stdout, stderr bytes.Buffer
	if err := runImportGuide(context.Background(), []string{filepath.Join(dir, "missing.csv")}, &stdout, &stderr); err == nil {
		t.Error("a missing file imported")
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("Id,Org\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runImportGuide(context.Background(), []string{bad}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "not a GUIDE file") {
		t.Errorf("a file of another format: %v", err)
	}
}

// TestImportGuideStopsOnInterrupt: Ctrl-C (the command's context ending) stops an import while it reads,
// with nothing stored and a message to run it again; the next run imports the file whole.
func TestImportGuideStopsOnInterrupt(t *testing.T) {
	db := tokenDB(t)
	path := filepath.Join(t.TempDir(), "GUIDE_Train.csv")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := guidegen.Generate(out, guidegen.Options{Rows: 20000, Orgs: 20, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	st := store.New(db, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as if Ctrl-C came at once; the read notices it at its next check
	var stdout, stderr bytes.Buffer
	err = importFile(ctx, st, path, &importFlags{force: true, batch: 500}, false, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "interrupted after reading 8192 rows") || !strings.Contains(err.Error(), "run it again") {
		t.Fatalf("an interrupted import: %v", err)
	}
	if counts, err := st.CountHistorical(context.Background()); err != nil || counts[store.SourceGUIDE] != 0 {
		t.Fatalf("an interrupted import stored %v (%v)", counts, err)
	}
	if err := importFile(context.Background(), st, path, &importFlags{batch: 500}, false, &stdout, &stderr); err != nil {
		t.Fatalf("the import run again: %v", err)
	}
	if counts, err := st.CountHistorical(context.Background()); err != nil || counts[store.SourceGUIDE] == 0 {
		t.Fatalf("the import run again stored %v (%v)", counts, err)
	}
}
