package guidegen

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/guide"
)

func generate(t testing.TB, opts Options) ([]byte, Summary) {
	t.Helper()
	var b bytes.Buffer
	sum, err := Generate(&b, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), sum
}

func TestDeterministic(t *testing.T) {
	opts := Options{Rows: 20000, Seed: 42, MalformedEvery: 333, Test: true}
	a, sa := generate(t, opts)
	b, sb := generate(t, opts)
	if sha256.Sum256(a) != sha256.Sum256(b) || sa != sb {
		t.Fatal("the same options wrote different files")
	}
	opts.Seed = 43
	c, _ := generate(t, opts)
	if bytes.Equal(a, c) {
		t.Fatal("another seed wrote the same file")
	}
}

func TestOptions(t *testing.T) {
	for _, opts := range []Options{{Rows: -1}, {Rows: 1, Orgs: -1}, {Rows: 1, MalformedEvery: -2}} {
		if _, err := Generate(io.Discard, opts); err == nil {
			t.Errorf("%+v: no error", opts)
		}
	}
	data, sum := generate(t, Options{})
	if sum != (Summary{}) || string(data) != strings.Join(guide.Columns, ",")+"\n" {
		t.Errorf("zero rows: %+v %q", sum, data)
	}
	data, sum = generate(t, Options{Rows: 1, Orgs: 1, Test: true})
	if sum.Rows != 1 || sum.Incidents != 1 || !strings.HasSuffix(strings.SplitN(string(data), "\n", 2)[0], ",Usage") {
		t.Errorf("one row: %+v %q", sum, data)
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	if _, err := Generate(&failingWriter{n: 1 << 20}, Options{Rows: 100000}); err == nil || err.Error() != "disk full" {
		t.Fatalf("err = %v", err)
	}
}

// TestReadBack: the reader reads every generated row, refuses exactly the malformed ones, and the
// aggregator finds the incidents the generator wrote.
func TestReadBack(t *testing.T) {
	for _, test := range []bool{false, true} {
		data, sum := generate(t, Options{Rows: 60000, Seed: 7, Test: test, MalformedEvery: 37})
		if sum.Rows != 60000 || sum.Malformed != 60000/37 {
			t.Fatalf("summary %+v", sum)
		}
		r, err := guide.NewReader(bytes.NewReader(data), "gen.csv")
		if err != nil {
			t.Fatal(err)
		}
		if r.Test() != test {
			t.Errorf("Test() = %v", r.Test())
		}
		agg := guide.NewAggregator()
		good, lastLine := 0, 1
		kinds := map[string]int{}
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			var re *guide.RowError
			if errors.As(err, &re) {
				// Every 37th data row, one line each: line 1 is the header.
				if re.Line != lastLine+1 || (re.Line-1)%37 != 0 {
					t.Fatalf("malformed row at line %d after line %d: %v", re.Line, lastLine, re)
				}
				lastLine = re.Line
				kind := re.Column
				if kind == "" {
					kind, _, _ = strings.Cut(re.Problem, ":")
					kind, _, _ = strings.Cut(kind, " (")
				}
				kinds[kind]++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if row.Line != lastLine+1 {
				t.Fatalf("row at line %d after line %d", row.Line, lastLine)
			}
			lastLine = row.Line
			if test != (row.Usage == "Public" || row.Usage == "Private") {
				t.Fatalf("line %d: Usage %q", row.Line, row.Usage)
			}
			good++
			agg.Add(row)
		}
		if good != sum.Rows-sum.Malformed || r.Malformed() != sum.Malformed {
			t.Errorf("read %d good and %d malformed rows, generator wrote %+v", good, r.Malformed(), sum)
		}
		if agg.Len() != sum.Incidents {
			t.Errorf("%d incidents, generator wrote %d", agg.Len(), sum.Incidents)
		}
		if len(kinds) < 8 {
			t.Errorf("malformed kinds %v: want them varied", kinds)
		}
	}
}

// shape is what a generated file looks like once read.
type shape struct {
	rows, incidents, labelled int
	rowGrades                 [3]int
	incGrades                 [3]int
	withActions, actionsTP    int
	maxAlerts                 int
	maxRowsPerAlert           int
	noTechniques              int
	contiguous, multiRow      int
	orgs, detectors           map[int64]int
	first, last               time.Time
	entityTypes               map[string]int
}

func measure(t *testing.T, data []byte) (shape, []guide.Incident) {
	t.Helper()
	r, err := guide.NewReader(bytes.NewReader(data), "gen.csv")
	if err != nil {
		t.Fatal(err)
	}
	s := shape{orgs: map[int64]int{}, detectors: map[int64]int{}, entityTypes: map[string]int{}}
	agg := guide.NewAggregator()
	type seen struct{ last, rows int }
	incidentAt := map[guide.Key]*seen{}
	perAlert := map[int64]int{}
	broken := map[guide.Key]bool{}
	for i := 0; ; i++ {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s.rows++
		agg.Add(row)
		k := guide.Key{OrgID: row.OrgID, IncidentID: row.IncidentID}
		if p := incidentAt[k]; p != nil {
			if p.last != i-1 {
				broken[k] = true
			}
			p.last = i
			p.rows++
		} else {
			incidentAt[k] = &seen{last: i, rows: 1}
		}
		perAlert[row.AlertID]++
		for g, name := range guide.Grades {
			if row.Grade == name {
				s.rowGrades[g]++
				s.labelled++
			}
		}
		if len(row.MitreTechniques) == 0 {
			s.noTechniques++
		}
		s.orgs[row.OrgID]++
		s.detectors[row.DetectorID]++
		s.entityTypes[row.EntityType]++
		if s.first.IsZero() || row.Timestamp.Before(s.first) {
			s.first = row.Timestamp
		}
		if row.Timestamp.After(s.last) {
			s.last = row.Timestamp
		}
	}
	for k, p := range incidentAt {
		if p.rows > 1 {
			s.multiRow++
			if !broken[k] {
				s.contiguous++
			}
		}
	}
	for _, n := range perAlert {
		s.maxRowsPerAlert = max(s.maxRowsPerAlert, n)
	}
	incs := agg.Incidents()
	s.incidents = len(incs)
	for _, inc := range incs {
		for g, name := range guide.Grades {
			if inc.Grade == name {
				s.incGrades[g]++
			}
		}
		s.maxAlerts = max(s.maxAlerts, int(inc.Alerts))
		if len(inc.Actions) > 0 {
			s.withActions++
			if inc.Grade == guide.GradeTruePositive {
				s.actionsTP++
			}
		}
	}
	return s, incs
}

func TestShape(t *testing.T) {
	data, sum := generate(t, Options{Rows: 400000, Seed: 3})
	s, incs := measure(t, data)
	share := func(n, of int) float64 { return float64(n) / float64(of) }

	want := [3]float64{0.35, 0.43, 0.22}
	for g := range want {
		if got := share(s.rowGrades[g], s.labelled); math.Abs(got-want[g]) > 0.03 {
			t.Errorf("%s: %.3f of rows, want %.2f", guide.Grades[g], got, want[g])
		}
	}
	if blank := share(s.rows-s.labelled, s.rows); blank == 0 || blank > 0.01 {
		t.Errorf("%.4f of rows have no grade", blank)
	}
	if perIncident := share(s.rows, sum.Incidents); math.Abs(perIncident-9.5) > 0.5 {
		t.Errorf("%.2f rows per incident, want about 9.5", perIncident)
	}
	if s.maxAlerts > 20 || s.maxAlerts < 12 || s.maxRowsPerAlert > 30 || s.maxRowsPerAlert < 25 {
		t.Errorf("at most %d alerts per incident and %d rows per alert", s.maxAlerts, s.maxRowsPerAlert)
	}
	if actions := share(s.withActions, s.incidents); actions < 0.015 || actions > 0.04 {
		t.Errorf("%.3f of incidents carry actions, want about 0.026", actions)
	}
	if tp := share(s.actionsTP, s.withActions); tp < 0.7 {
		t.Errorf("%.2f of incidents with actions are true positives", tp)
	}
	if c := share(s.contiguous, s.multiRow); c > 0.2 {
		t.Errorf("%.2f of incidents have contiguous rows: want them interleaved", c)
	}
	if e := share(s.noTechniques, s.rows); e < 0.3 || e > 0.75 {
		t.Errorf("%.2f of rows have no MITRE technique", e)
	}
	if len(s.detectors) < 3000 || len(s.entityTypes) < 20 {
		t.Errorf("%d detectors, %d entity types", len(s.detectors), len(s.entityTypes))
	}
	// A few large organisations, many small ones.
	top := 0
	for _, n := range s.orgs {
		top = max(top, n)
	}
	if share(top, s.rows) < 0.05 || len(s.orgs) < DefaultOrgs(400000)*3/4 {
		t.Errorf("largest organisation %.3f of rows; %d organisations", share(top, s.rows), len(s.orgs))
	}
	if s.first.Year() != 2024 || s.last.Year() != 2024 {
		t.Errorf("timestamps from %v to %v", s.first, s.last)
	}
	t.Logf("%d incidents, rows %v, incidents %v, actions %d (%d TP), %d detectors, %d orgs",
		s.incidents, s.rowGrades, s.incGrades, s.withActions, s.actionsTP, len(s.detectors), len(s.orgs))

	// Learnable, not trivially: the majority grade of an incident's first detector (learnt on one half
	// of the incidents, tested on the other) beats the prior, and does not come near perfect.
	prior, det, orgDet := majorityAccuracy(incs)
	t.Logf("accuracy: prior %.3f, detector majority %.3f, organisation and detector %.3f", prior, det, orgDet)
	if det < prior+0.1 || det > 0.9 || orgDet < det || orgDet > 0.93 {
		t.Errorf("accuracy: prior %.3f, detector majority %.3f, organisation and detector %.3f", prior, det, orgDet)
	}
}

// majorityAccuracy is the accuracy, on the odd incidents, of guessing the prior's mode, the majority
// grade of the incident's primary detector and of its organisation and primary detector among the even
// incidents.
func majorityAccuracy(incs []guide.Incident) (prior, det, orgDet float64) {
	share := func(n, of int) float64 { return float64(n) / float64(of) }
	type votes [3]int
	byDetector := map[int64]*votes{}
	byOrgDetector := map[[2]int64]*votes{}
	gi := func(g guide.Grade) int {
		for i, x := range guide.Grades {
			if x == g {
				return i
			}
		}
		return -1
	}
	primary := func(inc guide.Incident) int64 {
		best := inc.Detectors[0]
		for _, c := range inc.Detectors {
			if c.N > best.N {
				best = c
			}
		}
		return best.Value
	}
	for i, inc := range incs {
		g := gi(inc.Grade)
		if i%2 == 1 || g < 0 {
			continue
		}
		d := primary(inc)
		if byDetector[d] == nil {
			byDetector[d] = &votes{}
		}
		byDetector[d][g]++
		od := [2]int64{inc.Key.OrgID, d}
		if byOrgDetector[od] == nil {
			byOrgDetector[od] = &votes{}
		}
		byOrgDetector[od][g]++
	}
	argmax := func(v *votes) int {
		b := 1 // BenignPositive, the prior's mode
		for g := range v {
			if v[g] > v[b] {
				b = g
			}
		}
		return b
	}
	var n, priorHits, detHits, orgDetHits int
	for i, inc := range incs {
		g := gi(inc.Grade)
		if i%2 == 0 || g < 0 {
			continue
		}
		n++
		if g == 1 {
			priorHits++
		}
		d := primary(inc)
		guess := 1
		if v := byDetector[d]; v != nil {
			guess = argmax(v)
		}
		if guess == g {
			detHits++
		}
		if v := byOrgDetector[[2]int64{inc.Key.OrgID, d}]; v != nil && v[0]+v[1]+v[2] >= 2 {
			guess = argmax(v)
		}
		if guess == g {
			orgDetHits++
		}
	}
	return share(priorHits, n), share(detHits, n), share(orgDetHits, n)
}

// Label noise blurs what history says of a grade; without it the same history predicts better, and
// the rows' grade shares stay GUIDE's either way.
func TestLabelNoise(t *testing.T) {
	accuracy := func(noise float64) float64 {
		data, _ := generate(t, Options{Rows: 150000, Seed: 5, LabelNoise: noise})
		s, incs := measure(t, data)
		want := [3]float64{0.35, 0.43, 0.22}
		for g := range want {
			if got := float64(s.rowGrades[g]) / float64(s.labelled); math.Abs(got-want[g]) > 0.03 {
				t.Errorf("noise %g: %s %.3f of rows, want %.2f", noise, guide.Grades[g], got, want[g])
			}
		}
		_, _, orgDet := majorityAccuracy(incs)
		return orgDet
	}
	clean, def, noisy := accuracy(-1), accuracy(0), accuracy(0.3)
	t.Logf("organisation-and-detector majority accuracy: no noise %.3f, default %.3f, 30%% %.3f", clean, def, noisy)
	if clean <= def || def <= noisy+0.1 {
		t.Errorf("accuracy without noise %.3f, with the default %.3f, with 30%% %.3f: want them falling", clean, def, noisy)
	}
	if _, err := Generate(io.Discard, Options{Rows: 1, LabelNoise: 0.6}); err == nil {
		t.Error("label noise 0.6 accepted")
	}
}

func BenchmarkGenerate(b *testing.B) {
	const rows = 200000
	var bytes int64
	for b.Loop() {
		w := &countingWriter{}
		if _, err := Generate(w, Options{Rows: rows, Seed: 1}); err != nil {
			b.Fatal(err)
		}
		bytes = w.n
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
