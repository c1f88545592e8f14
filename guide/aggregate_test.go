package guide_test

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/internal/guidegen"
)

func generated(t testing.TB, opts guidegen.Options) ([]byte, guidegen.Summary) {
	t.Helper()
	var b bytes.Buffer
	sum, err := guidegen.Generate(&b, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), sum
}

func readRows(t testing.TB, data []byte) []guide.Row {
	t.Helper()
	r, err := guide.NewReader(bytes.NewReader(data), "gen.csv")
	if err != nil {
		t.Fatal(err)
	}
	var rows []guide.Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows
		}
		var re *guide.RowError
		if errors.As(err, &re) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

func aggregate(rows []guide.Row) []guide.Incident {
	a := guide.NewAggregator()
	for _, r := range rows {
		a.Add(r)
	}
	return a.Incidents()
}

func TestAggregatorOrderDoesNotMatter(t *testing.T) {
	data, sum := generated(t, guidegen.Options{Rows: 20000, Seed: 5, MalformedEvery: 101})
	rows := readRows(t, data)
	inFile := aggregate(rows)
	if len(inFile) != sum.Incidents {
		t.Fatalf("%d incidents, the generator wrote %d", len(inFile), sum.Incidents)
	}

	sorted := slices.Clone(rows)
	slices.SortStableFunc(sorted, func(a, b guide.Row) int {
		if c := cmp.Compare(a.OrgID, b.OrgID); c != 0 {
			return c
		}
		return cmp.Compare(a.IncidentID, b.IncidentID)
	})
	shuffled := slices.Clone(rows)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for name, order := range map[string][]guide.Row{"sorted": sorted, "shuffled": shuffled} {
		if got := aggregate(order); !reflect.DeepEqual(got, inFile) {
			for i := range got {
				if !reflect.DeepEqual(got[i], inFile[i]) {
					t.Fatalf("%s rows: incident %d differs:\n got %+v\nwant %+v", name, i, got[i], inFile[i])
				}
			}
			t.Fatalf("%s rows: %d incidents, want %d", name, len(got), len(inFile))
		}
	}
	if !slices.IsSortedFunc(inFile, func(a, b guide.Incident) int {
		if c := cmp.Compare(a.Key.OrgID, b.Key.OrgID); c != 0 {
			return c
		}
		return cmp.Compare(a.Key.IncidentID, b.Key.IncidentID)
	}) {
		t.Error("incidents are not sorted by Key")
	}
	total := 0
	for _, inc := range inFile {
		total += int(inc.Rows)
	}
	if total != len(rows) {
		t.Errorf("incidents hold %d rows, read %d", total, len(rows))
	}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestAggregatorCounts(t *testing.T) {
	k := guide.Key{OrgID: 3, IncidentID: 10}
	rows := []guide.Row{
		{OrgID: 3, IncidentID: 10, AlertID: 7, Timestamp: ts("2024-03-01T10:00:00Z"), DetectorID: 9, AlertTitle: 90,
			Category: "Execution", MitreTechniques: []string{"T1059", "T1204"}, Grade: guide.GradeBenignPositive,
			EntityType: "Machine", EvidenceRole: "Impacted", OSFamily: 0, CountryCode: 242,
			ActionGrouped: "IsolateDevice", ActionGranular: "isolateresponse", DeviceID: 41, DeviceName: 42},
		// Same IncidentId in another organisation: another incident.
		{OrgID: 4, IncidentID: 10, AlertID: 1, Grade: guide.GradeFalsePositive, Category: "Discovery"},
		{OrgID: 3, IncidentID: 10, AlertID: 5, Timestamp: ts("2024-02-28T09:00:00Z"), DetectorID: 2, AlertTitle: 20,
			Category: "Execution", MitreTechniques: []string{"T1059"}, Grade: guide.GradeTruePositive,
			EntityType: "Process", EvidenceRole: "Related", SuspicionLevel: "Incriminated", LastVerdict: "Malicious",
			ThreatFamily: "Mimikatz", Roles: "Attacker", OSFamily: 5, CountryCode: 242, ActionGrouped: "ContainAccount"},
		{OrgID: 3, IncidentID: 10, AlertID: 7, Timestamp: ts("2024-03-02T11:30:00Z"), DetectorID: 9, AlertTitle: 90,
			Category: "CommandAndControl", Grade: guide.GradeBenignPositive, EntityType: "Machine", EvidenceRole: "Impacted",
			OSFamily: 5, CountryCode: 1, ActionGrouped: "IsolateDevice", ActionGranular: "isolateresponse", DeviceID: 41},
		{OrgID: 3, IncidentID: 10, AlertID: 5, Grade: "", EntityType: "Ip", EvidenceRole: "Related", OSFamily: 5, CountryCode: 1,
			IPAddress: 41, Sha256: 7, FileName: 8, AccountUpn: 9, RegistryKey: 10, ResourceIDName: 11,
			NetworkMessageID: 99, OSVersion: 98, State: 97},
	}
	a := guide.NewAggregator()
	for _, r := range rows {
		a.Add(r)
	}
	if a.Len() != 2 {
		t.Fatalf("Len = %d, want 2", a.Len())
	}
	incs := a.Incidents()
	got := incs[0]
	want := guide.Incident{
		Key: k, Grade: guide.GradeBenignPositive, Rows: 4, Alerts: 2,
		First: ts("2024-02-28T09:00:00Z"), Last: ts("2024-03-02T11:30:00Z"),
		Detectors:      []guide.Count[int64]{{Value: 0, N: 1}, {Value: 2, N: 1}, {Value: 9, N: 2}},
		AlertTitles:    []guide.Count[int64]{{Value: 0, N: 1}, {Value: 20, N: 1}, {Value: 90, N: 2}},
		Categories:     []guide.Count[string]{{Value: "CommandAndControl", N: 1}, {Value: "Execution", N: 2}},
		Techniques:     []guide.Count[string]{{Value: "T1059", N: 2}, {Value: "T1204", N: 1}},
		EntityTypes:    []guide.Count[string]{{Value: "Ip", N: 1}, {Value: "Machine", N: 2}, {Value: "Process", N: 1}},
		EvidenceRoles:  []guide.Count[string]{{Value: "Impacted", N: 2}, {Value: "Related", N: 2}},
		SuspicionLevel: []guide.Count[string]{{Value: "Incriminated", N: 1}},
		LastVerdicts:   []guide.Count[string]{{Value: "Malicious", N: 1}},
		ThreatFamilies: []guide.Count[string]{{Value: "Mimikatz", N: 1}},
		Roles:          []guide.Count[string]{{Value: "Attacker", N: 1}},
		OSFamilies:     []guide.Count[int64]{{Value: 0, N: 1}, {Value: 5, N: 3}},
		Countries:      []guide.Count[int64]{{Value: 1, N: 2}, {Value: 242, N: 2}},
		// The same identifier in two columns is two entities; NetworkMessageId, OSVersion and State
		// identify nothing that recurs.
		Entities: sortedKeys(guide.EntityKey(guide.EntityDeviceID, 41), guide.EntityKey(guide.EntityDeviceName, 42),
			guide.EntityKey(guide.EntityIPAddress, 41), guide.EntityKey(guide.EntitySha256, 7),
			guide.EntityKey(guide.EntityFileName, 8), guide.EntityKey(guide.EntityAccountUpn, 9),
			guide.EntityKey(guide.EntityRegistryKey, 10), guide.EntityKey(guide.EntityResourceIDName, 11)),
		// ActionGranular, else ActionGrouped; distinct and sorted.
		Actions: []string{"ContainAccount", "isolateresponse"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("incident\n got %+v\nwant %+v", got, want)
	}
	other := incs[1]
	if other.Key != (guide.Key{OrgID: 4, IncidentID: 10}) || other.Grade != guide.GradeFalsePositive || other.Rows != 1 ||
		!other.First.IsZero() || other.Actions != nil || other.Techniques != nil {
		t.Errorf("second incident %+v", other)
	}
}

func sortedKeys(keys ...uint64) []uint64 {
	slices.Sort(keys)
	return keys
}

// An incident naming more identifiers than MaxEntities keeps a sample of them that does not depend on
// the order of its rows; the column survives the packing.
func TestAggregatorEntitySample(t *testing.T) {
	var rows []guide.Row
	for i := range 3 * guide.MaxEntities {
		rows = append(rows, guide.Row{OrgID: 1, IncidentID: 2, AlertID: 3, URL: int64(1000 + i), Sha256: 5})
	}
	sample := func(rows []guide.Row) []uint64 {
		a := guide.NewAggregator()
		for _, r := range rows {
			a.Add(r)
		}
		return a.Incidents()[0].Entities
	}
	got := sample(rows)
	if len(got) != guide.MaxEntities || !slices.IsSorted(got) {
		t.Fatalf("%d entities (sorted %v), want %d sorted", len(got), slices.IsSorted(got), guide.MaxEntities)
	}
	for _, k := range got {
		if c := guide.Column(k); c != guide.EntityURL && c != guide.EntitySha256 {
			t.Errorf("key %x has column %d", k, c)
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	if shuffled := sample(rows); !slices.Equal(shuffled, got) {
		t.Errorf("shuffled rows keep another sample:\n%v\n%v", shuffled, got)
	}
	if k := guide.EntityKey(guide.EntityURL, -1); guide.Column(k) != guide.EntityURL {
		t.Errorf("a negative identifier overwrote the column: %x", k)
	}
}

func TestAggregatorGradeMajority(t *testing.T) {
	tp, bp, fp := guide.GradeTruePositive, guide.GradeBenignPositive, guide.GradeFalsePositive
	tests := []struct {
		grades []guide.Grade
		want   guide.Grade
	}{
		{[]guide.Grade{bp, bp, tp}, bp},
		{[]guide.Grade{fp, "", "", ""}, fp}, // empty grades do not vote
		{[]guide.Grade{"", ""}, ""},
		{[]guide.Grade{fp, bp}, bp},     // a tie goes to the grade first in Grades
		{[]guide.Grade{fp, tp, bp}, tp}, // likewise
		{[]guide.Grade{fp, fp, tp, tp, bp}, tp},
	}
	for _, tt := range tests {
		a := guide.NewAggregator()
		for i, g := range tt.grades {
			a.Add(guide.Row{OrgID: 1, IncidentID: 1, AlertID: int64(i), Grade: g})
		}
		if got := a.Incidents()[0].Grade; got != tt.want {
			t.Errorf("grades %v: got %q, want %q", tt.grades, got, tt.want)
		}
	}
}

func TestAggregatorManyAlerts(t *testing.T) {
	a := guide.NewAggregator()
	r := rand.New(rand.NewPCG(3, 4))
	seen := map[int64]bool{}
	for range 5000 {
		id := r.Int64N(700)
		seen[id] = true
		a.Add(guide.Row{OrgID: 1, IncidentID: 2, AlertID: id, DetectorID: id % 50})
	}
	inc := a.Incidents()[0]
	if int(inc.Alerts) != len(seen) || len(inc.Detectors) != 50 || inc.Rows != 5000 {
		t.Errorf("alerts %d want %d, detectors %d, rows %d", inc.Alerts, len(seen), len(inc.Detectors), inc.Rows)
	}
	n := int32(0)
	for _, c := range inc.Detectors {
		n += c.N
	}
	if n != 5000 {
		t.Errorf("detector counts sum to %d", n)
	}
}

func TestAllStopsEarly(t *testing.T) {
	a := guide.NewAggregator()
	for i := range 10 {
		a.Add(guide.Row{OrgID: int64(9 - i), IncidentID: 1})
	}
	var keys []guide.Key
	for inc := range a.All() {
		keys = append(keys, inc.Key)
		if len(keys) == 3 {
			break
		}
	}
	if !slices.Equal(keys, []guide.Key{{0, 1}, {1, 1}, {2, 1}}) {
		t.Errorf("keys %v", keys)
	}
}

func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	train, sumTrain := generated(t, guidegen.Options{Rows: 3000, Seed: 1, MalformedEvery: 50})
	test, sumTest := generated(t, guidegen.Options{Rows: 2000, Seed: 2, Test: true, MalformedEvery: 40})
	paths := []string{filepath.Join(dir, "GUIDE_Train.csv"), filepath.Join(dir, "GUIDE_Test.csv")}
	for i, data := range [][]byte{train, test} {
		if err := os.WriteFile(paths[i], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var seen []*guide.RowError
	incs, st, err := guide.ReadFiles(paths, func(e *guide.RowError) { seen = append(seen, e) })
	if err != nil {
		t.Fatal(err)
	}
	wantMalformed := sumTrain.Malformed + sumTest.Malformed
	if st.Malformed != wantMalformed || len(seen) != wantMalformed || st.Rows != 5000-wantMalformed || st.Incidents != len(incs) {
		t.Errorf("stats %+v (seen %d), want %d malformed of 5000", st, len(seen), wantMalformed)
	}
	if seen[0].File != paths[0] || seen[len(seen)-1].File != paths[1] {
		t.Errorf("errors name %s and %s", seen[0].File, seen[len(seen)-1].File)
	}

	if err := os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("a,b\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = guide.ReadFiles([]string{paths[0], filepath.Join(dir, "bad.csv")}, nil)
	var he *guide.HeaderError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "bad.csv") {
		t.Errorf("err = %v, want a header error naming bad.csv", err)
	}
	if _, _, err := guide.ReadFiles([]string{filepath.Join(dir, "missing.csv")}, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want not exist", err)
	}
}

// TestAggregatorMemory guards the bytes kept per incident (BenchmarkAggregator reports the figure).
func TestAggregatorMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	data, _ := generated(t, guidegen.Options{Rows: 200000, Seed: 9})
	rows := readRows(t, data)
	perIncident, _ := heapPerIncident(rows)
	if perIncident > 700 {
		t.Errorf("%.0f bytes per incident", perIncident)
	}
	t.Logf("%.0f bytes per incident", perIncident)
}

// heapPerIncident aggregates rows and returns the live heap the aggregator holds per incident.
func heapPerIncident(rows []guide.Row) (float64, *guide.Aggregator) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a := guide.NewAggregator()
	for _, r := range rows {
		a.Add(r)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(a)
	runtime.KeepAlive(rows) // the rows are the caller's: their memory is not the aggregator's
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(a.Len()), a
}

func BenchmarkReader(b *testing.B) {
	data, sum := generated(b, guidegen.Options{Rows: 100000, Seed: 1})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		r, err := guide.NewReader(bytes.NewReader(data), "bench.csv")
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
	}
	if rows != sum.Rows*b.N {
		b.Fatalf("read %d rows", rows)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkAggregator(b *testing.B) {
	data, _ := generated(b, guidegen.Options{Rows: 200000, Seed: 1})
	rows := readRows(b, data)
	b.ResetTimer()
	var perIncident float64
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		a := guide.NewAggregator()
		for _, r := range rows {
			a.Add(r)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		perIncident = float64(after.HeapAlloc-before.HeapAlloc) / float64(a.Len())
		runtime.KeepAlive(a)
		runtime.KeepAlive(rows)
		b.StartTimer()
	}
	b.ReportMetric(perIncident, "bytes/incident")
	b.ReportMetric(float64(len(rows)*b.N)/b.Elapsed().Seconds(), "rows/s")
}
