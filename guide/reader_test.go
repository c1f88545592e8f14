package guide_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/guide"
)

var header = strings.Join(guide.Columns, ",")

// validCells is a well-formed train row: cell i is column i.
func validCells() []string {
	return []string{
		"180388628218", "0", "612", "123247", "2024-06-04T06:05:15.000Z", "7", "6", "InitialAccess", "T1566.002;T1078",
		"TruePositive", "", "", "Ip", "Related", "98799", "138268", "27", "160396", "441377", "673934", "425863",
		"453297", "153085", "529644", "", "1631", "635", "860", "2251", "3421", "881", "", "289573", "117668", "3586",
		"", "", "5", "66", "", "Suspicious", "Malicious", "31", "6", "3",
	}
}

func line(cells []string) string { return strings.Join(cells, ",") }

func with(col string, v string) []string {
	c := validCells()
	c[slices.Index(guide.Columns, col)] = v
	return c
}

func readAll(t *testing.T, text string) ([]guide.Row, []*guide.RowError) {
	t.Helper()
	r, err := guide.NewReader(strings.NewReader(text), "t.csv")
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	var rows []guide.Row
	var bad []*guide.RowError
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		var re *guide.RowError
		if errors.As(err, &re) {
			bad = append(bad, re)
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		rows = append(rows, row)
	}
	if r.Malformed() != len(bad) {
		t.Errorf("Malformed() = %d, want %d", r.Malformed(), len(bad))
	}
	return rows, bad
}

func TestReaderValidRow(t *testing.T) {
	rows, bad := readAll(t, header+"\n"+line(validCells())+"\n")
	if len(bad) != 0 || len(rows) != 1 {
		t.Fatalf("rows %d, malformed %v", len(rows), bad)
	}
	r := rows[0]
	want := guide.Row{
		Line: 2, ID: 180388628218, OrgID: 0, IncidentID: 612, AlertID: 123247,
		Timestamp:  time.Date(2024, 6, 4, 6, 5, 15, 0, time.UTC),
		DetectorID: 7, AlertTitle: 6, Category: "InitialAccess", MitreTechniques: []string{"T1566.002", "T1078"},
		Grade: guide.GradeTruePositive, EntityType: "Ip", EvidenceRole: "Related",
		DeviceID: 98799, Sha256: 138268, IPAddress: 27, URL: 160396, AccountSid: 441377, AccountUpn: 673934,
		AccountObjectID: 425863, AccountName: 453297, DeviceName: 153085, NetworkMessageID: 529644, EmailClusterID: 0,
		RegistryKey: 1631, RegistryValueName: 635, RegistryValueData: 860, ApplicationID: 2251, ApplicationName: 3421,
		OAuthApplicationID: 881, FileName: 289573, FolderPath: 117668, ResourceIDName: 3586, ResourceType: 0,
		OSFamily: 5, OSVersion: 66, SuspicionLevel: "Suspicious", LastVerdict: "Malicious",
		CountryCode: 31, State: 6, City: 3,
	}
	if !rowsEqual(r, want) {
		t.Errorf("row\n got %+v\nwant %+v", r, want)
	}
}

func rowsEqual(a, b guide.Row) bool {
	if !slices.Equal(a.MitreTechniques, b.MitreTechniques) || !a.Timestamp.Equal(b.Timestamp) {
		return false
	}
	a.MitreTechniques, b.MitreTechniques = nil, nil
	a.Timestamp, b.Timestamp = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestReaderCells(t *testing.T) {
	tests := []struct {
		name  string
		cells []string
		check func(guide.Row) bool
	}{
		{"empty integer cells are 0", with("DeviceId", ""), func(r guide.Row) bool { return r.DeviceID == 0 }},
		{"empty grade", with("IncidentGrade", ""), func(r guide.Row) bool { return r.Grade == "" }},
		{"empty techniques", with("MitreTechniques", ""), func(r guide.Row) bool { return r.MitreTechniques == nil }},
		{"one technique", with("MitreTechniques", "T1566"), func(r guide.Row) bool { return slices.Equal(r.MitreTechniques, []string{"T1566"}) }},
		{"empty items dropped", with("MitreTechniques", "T1566;;T1078;"), func(r guide.Row) bool {
			return slices.Equal(r.MitreTechniques, []string{"T1566", "T1078"})
		}},
		{"quoted field with a comma", with("ActionGranular", `"reset user password, now."`), func(r guide.Row) bool {
			return r.ActionGranular == "reset user password, now." && r.Line == 2
		}},
		{"quoted field with a quote", with("ActionGranular", `"say ""hi"""`), func(r guide.Row) bool { return r.ActionGranular == `say "hi"` }},
		{"negative integer", with("OrgId", "-3"), func(r guide.Row) bool { return r.OrgID == -3 }},
		{"large integer", with("Id", "9223372036854775807"), func(r guide.Row) bool { return r.ID == 1<<63-1 }},
		{"RFC 3339 with an offset", with("Timestamp", "2024-06-04T08:05:15+02:00"), func(r guide.Row) bool {
			return r.Timestamp.Equal(time.Date(2024, 6, 4, 6, 5, 15, 0, time.UTC)) && r.Timestamp.Location() == time.UTC
		}},
		{"leap day", with("Timestamp", "2024-02-29T23:59:59.999Z"), func(r guide.Row) bool {
			return r.Timestamp.Equal(time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.UTC))
		}},
		{"empty timestamp", with("Timestamp", ""), func(r guide.Row) bool { return r.Timestamp.IsZero() }},
		{"CRLF line ends", validCells(), func(r guide.Row) bool { return r.City == 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sep := "\n"
			if strings.HasPrefix(tt.name, "CRLF") {
				sep = "\r\n"
			}
			rows, bad := readAll(t, header+sep+line(tt.cells)+sep)
			if len(bad) != 0 || len(rows) != 1 {
				t.Fatalf("rows %d, malformed %v", len(rows), bad)
			}
			if !tt.check(rows[0]) {
				t.Errorf("row %+v", rows[0])
			}
		})
	}
}

func TestReaderTestFile(t *testing.T) {
	text := header + ",Usage\n" + line(append(validCells(), "Public")) + "\n" + line(validCells()) + "\n"
	r, err := guide.NewReader(strings.NewReader(text), "GUIDE_Test.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Test() {
		t.Error("Test() = false for a file with Usage")
	}
	row, err := r.Next()
	if err != nil || row.Usage != "Public" {
		t.Fatalf("row %+v, %v", row, err)
	}
	// A train-length row in a test file is malformed.
	_, err = r.Next()
	var re *guide.RowError
	if !errors.As(err, &re) || re.Line != 3 || !strings.Contains(re.Problem, "45 fields, want 46") {
		t.Fatalf("err = %v", err)
	}
}

func TestReaderHeaderErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"empty file", "", "the file is empty"},
		{"too few columns", "Id,OrgId,IncidentId\n", "the header has 3 columns, want 45 (GUIDE_Train) or 46"},
		{"renamed column", strings.Replace(header, "Timestamp", "Time", 1) + "\n", `header column 5 is "Time", want "Timestamp"`},
		{"columns swapped", strings.Replace(header, "OrgId,IncidentId", "IncidentId,OrgId", 1) + "\n", `header column 2 is "IncidentId", want "OrgId"`},
		{"wrong extra column", header + ",Split\n", `header column 46 is "Split", want "Usage"`},
		{"a data row for a header", line(validCells()) + "\n", `header column 1 is "180388628218", want "Id"`},
		{"bad quoting", `"Id,OrgId` + "\n", "not valid CSV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := guide.NewReader(strings.NewReader(tt.text), "bad.csv")
			var he *guide.HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("err = %v, want a *HeaderError", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "bad.csv:1: ") {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
	// A byte order mark is not a difference.
	if _, err := guide.NewReader(strings.NewReader("\ufeff"+header+"\n"), "bom.csv"); err != nil {
		t.Errorf("header with a BOM: %v", err)
	}
}

func TestReaderMalformedRows(t *testing.T) {
	// Each case is one bad line between good ones; a quoted field with a newline earlier in the file
	// shifts the line numbers: the bad line is line 5.
	multiline := with("ActionGranular", "\"first line\nsecond line\"")
	tests := []struct {
		name, bad, column, problem string
	}{
		{"a field missing", line(validCells()[:44]), "", "the row has 44 fields, want 45"},
		{"a field too many", line(append(validCells(), "x")), "", "the row has 46 fields, want 45"},
		{"not an integer", line(with("OrgId", "12a")), "OrgId", `"12a" is not an integer`},
		{"a float", line(with("City", "3.0")), "City", `"3.0" is not an integer`},
		{"an overflow", line(with("AlertId", "99999999999999999999")), "AlertId", "is not an integer"},
		{"a sign alone", line(with("Url", "-")), "Url", `"-" is not an integer`},
		{"not a time", line(with("Timestamp", "yesterday")), "Timestamp", `"yesterday" is not an ISO 8601 UTC time`},
		{"June 31", line(with("Timestamp", "2024-06-31T10:00:00.000Z")), "Timestamp", "is not an ISO 8601"},
		{"hour 24", line(with("Timestamp", "2024-06-06T24:00:00.000Z")), "Timestamp", "is not an ISO 8601"},
		{"no zone", line(with("Timestamp", "2024-06-06T17:32:50.000")), "Timestamp", "is not an ISO 8601"},
		{"unknown grade", line(with("IncidentGrade", "truepositive")), "IncidentGrade", `unknown grade "truepositive"`},
		{"bare quote", line(with("Category", `Init"ialAccess`)), "", `quoting: bare " in non-quoted-field (at character 60)`},
		{"text after a quoted field", line(with("AlertTitle", `"6"x`)), "", `quoting: extraneous or missing " in quoted-field`},
		{"first problem wins", line(append(with("OrgId", "x")[:44], "y")), "OrgId", `"x" is not an integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := header + "\n" + line(validCells()) + "\n" + line(multiline) + "\n" + tt.bad + "\n" + line(validCells()) + "\n"
			rows, bad := readAll(t, text)
			if len(bad) != 1 {
				t.Fatalf("malformed = %v, want one", bad)
			}
			re := bad[0]
			if re.File != "t.csv" || re.Line != 5 || re.Column != tt.column || !strings.Contains(re.Problem, tt.problem) {
				t.Errorf("got %+v\nwant line 5, column %q, problem containing %q", re, tt.column, tt.problem)
			}
			wantErr := "t.csv:5: "
			if tt.column != "" {
				wantErr += "column " + tt.column + ": "
			}
			if !strings.HasPrefix(re.Error(), wantErr) {
				t.Errorf("Error() = %q, want prefix %q", re.Error(), wantErr)
			}
			// The reader goes on: the rows around the bad one are read, with their lines.
			if len(rows) != 3 || rows[0].Line != 2 || rows[1].Line != 3 || rows[2].Line != 6 {
				t.Errorf("good rows: %d, lines %v", len(rows), lines(rows))
			}
			if rows[1].ActionGranular != "first line\nsecond line" {
				t.Errorf("multi-line cell = %q", rows[1].ActionGranular)
			}
		})
	}
}

func lines(rows []guide.Row) []int {
	var l []int
	for _, r := range rows {
		l = append(l, r.Line)
	}
	return l
}

func TestReaderUnterminatedQuote(t *testing.T) {
	// An unterminated quote swallows the rest of the file into one malformed record: one error, at the
	// line where the record starts, then EOF.
	text := header + "\n" + line(validCells()) + "\n" + line(with("Category", `"Initial`)) + "\n" + line(validCells()) + "\n"
	rows, bad := readAll(t, text)
	if len(rows) != 1 || len(bad) != 1 || bad[0].Line != 3 {
		t.Fatalf("rows %d, malformed %+v", len(rows), bad)
	}
}

func TestReaderInternsStrings(t *testing.T) {
	text := header + "\n" + line(validCells()) + "\n" + line(validCells()) + "\n"
	rows, _ := readAll(t, text)
	// Equal cells share their memory (interned), and techniques their slice, which a caller's append
	// must not write into.
	if &rows[0].MitreTechniques[0] != &rows[1].MitreTechniques[0] {
		t.Error("MitreTechniques of equal cells are not shared")
	}
	if cap(rows[0].MitreTechniques) != len(rows[0].MitreTechniques) {
		t.Error("a shared MitreTechniques slice has spare capacity")
	}
	if strings.Clone(rows[0].Category) != "InitialAccess" {
		t.Error("category")
	}
}

func TestReaderIOError(t *testing.T) {
	r, err := guide.NewReader(io.MultiReader(strings.NewReader(header+"\n"+line(validCells())+"\n"), errReader{}), "io.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err = r.Next()
	var re *guide.RowError
	if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "io.csv") {
		t.Fatalf("err = %v, want the read error naming the file", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func FuzzReader(f *testing.F) {
	f.Add([]byte(header + "\n" + line(validCells()) + "\n"))
	f.Add([]byte(header + ",Usage\n" + line(append(validCells(), "Private")) + "\n"))
	f.Add([]byte(header + "\n" + line(with("OrgId", "x")) + "\n" + line(validCells()[:3]) + "\n\"a\nb"))
	f.Add([]byte(header + "\n" + line(with("Category", `a"b`)) + "\r\n" + line(with("Timestamp", "2024-02-30T00:00:00.000Z"))))
	f.Add([]byte(header + "\n" + line(with("MitreTechniques", ";;;")) + "\n"))
	f.Add([]byte(""))
	f.Add([]byte("\ufeff" + header))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := guide.NewReader(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			var he *guide.HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("NewReader: %v is not a *HeaderError", err)
			}
			return
		}
		// Every call consumes at least one byte of input: more calls than bytes is a hang.
		for calls := 0; ; calls++ {
			if calls > len(data)+1 {
				t.Fatal("Next does not reach EOF")
			}
			row, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var re *guide.RowError
				if !errors.As(err, &re) {
					t.Fatalf("Next: %v is not a *RowError", err)
				}
				if re.Line < 2 {
					t.Fatalf("row error at line %d", re.Line)
				}
				continue
			}
			if row.Line < 2 {
				t.Fatalf("row at line %d", row.Line)
			}
			if row.Grade != "" && !row.Grade.Valid() {
				t.Fatalf("grade %q", row.Grade)
			}
		}
	})
}
