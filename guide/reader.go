package guide

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Column indexes, in the order of Columns.
const (
	colID = iota
	colOrgID
	colIncidentID
	colAlertID
	colTimestamp
	colDetectorID
	colAlertTitle
	colCategory
	colMitreTechniques
	colIncidentGrade
	colActionGrouped
	colActionGranular
	colEntityType
	colEvidenceRole
	colDeviceID
	colSha256
	colIPAddress
	colURL
	colAccountSid
	colAccountUpn
	colAccountObjectID
	colAccountName
	colDeviceName
	colNetworkMessageID
	colEmailClusterID
	colRegistryKey
	colRegistryValueName
	colRegistryValueData
	colApplicationID
	colApplicationName
	colOAuthApplicationID
	colThreatFamily
	colFileName
	colFolderPath
	colResourceIDName
	colResourceType
	colRoles
	colOSFamily
	colOSVersion
	colAntispamDirection
	colSuspicionLevel
	colLastVerdict
	colCountryCode
	colState
	colCity
	colUsage // the test file only
)

// UsageColumn is the test file's extra, last column (Public or Private).
const UsageColumn = "Usage"

// maxInterned bounds the reader's table of interned strings: the categorical columns have a few hundred
// distinct values, and hostile input must not grow the table without bound.
const maxInterned = 1 << 14

// HeaderError says why a file's first line is not a GUIDE header. Nothing after it is read.
type HeaderError struct {
	File    string
	Problem string
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf("%s:1: not a GUIDE file: %s", e.File, e.Problem)
}

// RowError is one malformed row: the reader skips it and goes on with the next.
type RowError struct {
	File string
	// Line is the line the row starts on (the header is line 1).
	Line int
	// Column is the column at fault, empty when the row as a whole is (field count, quoting).
	Column  string
	Problem string
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Problem)
	}
	return fmt.Sprintf("%s:%d: column %s: %s", e.File, e.Line, e.Column, e.Problem)
}

// Reader streams the rows of one GUIDE file (GUIDE_Train.csv, or GUIDE_Test.csv with its Usage column).
// It keeps no row: memory stays constant whatever the file's size.
//
// Strings of the categorical columns are interned: rows share them, and a Row never pins the line it
// came from. MitreTechniques slices are shared between rows with the same cell: do not modify them.
type Reader struct {
	name      string
	csv       *csv.Reader
	test      bool
	fields    int
	malformed int
	strs      map[string]string
	lists     map[string][]string
}

// NewReader reads and checks the header of a GUIDE file: the 45 columns of Columns in order, or those
// and Usage (the test file). name is the file's name in errors. A header that is neither is a
// *HeaderError naming the first difference.
func NewReader(r io.Reader, name string) (*Reader, error) {
	if _, ok := r.(*bufio.Reader); !ok {
		r = bufio.NewReaderSize(r, 256<<10)
	}
	c := csv.NewReader(r)
	c.ReuseRecord = true
	c.FieldsPerRecord = -1
	header, err := c.Read()
	if err != nil {
		if err == io.EOF {
			return nil, &HeaderError{File: name, Problem: "the file is empty; want the header line " + strings.Join(Columns[:3], ",") + ",..."}
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, &HeaderError{File: name, Problem: "the header line is not valid CSV: " + pe.Err.Error()}
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a byte order mark, as spreadsheet tools write
	}
	if err := checkHeader(header); err != "" {
		return nil, &HeaderError{File: name, Problem: err}
	}
	return &Reader{
		name:   name,
		csv:    c,
		test:   len(header) == len(Columns)+1,
		fields: len(header),
		strs:   make(map[string]string, 256),
		lists:  make(map[string][]string, 256),
	}, nil
}

// checkHeader says what is wrong with a header, or "".
func checkHeader(header []string) string {
	n := len(header)
	if n != len(Columns) && n != len(Columns)+1 {
		return fmt.Sprintf("the header has %d columns, want %d (GUIDE_Train) or %d (GUIDE_Test, ending with %s)",
			n, len(Columns), len(Columns)+1, UsageColumn)
	}
	for i, want := range Columns {
		if header[i] != want {
			return fmt.Sprintf("header column %d is %s, want %q", i+1, clip(header[i]), want)
		}
	}
	if n == len(Columns)+1 && header[n-1] != UsageColumn {
		return fmt.Sprintf("header column %d is %s, want %q (or no column %d)", n, clip(header[n-1]), UsageColumn, n)
	}
	return ""
}

// Test reports whether the file is a test file: it has the Usage column.
func (r *Reader) Test() bool { return r.test }

// Malformed is the number of rows Next has refused so far.
func (r *Reader) Malformed() int { return r.malformed }

// Next returns the next row; io.EOF after the last. A malformed row is a *RowError and is skipped: the
// next call goes on with the following row. Any other error is the input's and ends the file.
func (r *Reader) Next() (Row, error) {
	rec, err := r.csv.Read()
	if err != nil {
		if err == io.EOF {
			return Row{}, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			r.malformed++
			return Row{}, &RowError{File: r.name, Line: pe.StartLine, Problem: quoteProblem(pe)}
		}
		return Row{}, fmt.Errorf("read %s: %w", r.name, err)
	}
	line, _ := r.csv.FieldPos(0)
	if len(rec) != r.fields {
		r.malformed++
		return Row{}, &RowError{File: r.name, Line: line, Problem: fmt.Sprintf("the row has %d fields, want %d", len(rec), r.fields)}
	}
	p := parser{rec: rec, bad: -1}
	row := Row{
		Line:       line,
		ID:         p.int(colID),
		OrgID:      p.int(colOrgID),
		IncidentID: p.int(colIncidentID),
		AlertID:    p.int(colAlertID),
		Timestamp:  p.time(colTimestamp),
		DetectorID: p.int(colDetectorID),
		AlertTitle: p.int(colAlertTitle),
		Grade:      p.grade(colIncidentGrade),

		DeviceID:           p.int(colDeviceID),
		Sha256:             p.int(colSha256),
		IPAddress:          p.int(colIPAddress),
		URL:                p.int(colURL),
		AccountSid:         p.int(colAccountSid),
		AccountUpn:         p.int(colAccountUpn),
		AccountObjectID:    p.int(colAccountObjectID),
		AccountName:        p.int(colAccountName),
		DeviceName:         p.int(colDeviceName),
		NetworkMessageID:   p.int(colNetworkMessageID),
		EmailClusterID:     p.int(colEmailClusterID),
		RegistryKey:        p.int(colRegistryKey),
		RegistryValueName:  p.int(colRegistryValueName),
		RegistryValueData:  p.int(colRegistryValueData),
		ApplicationID:      p.int(colApplicationID),
		ApplicationName:    p.int(colApplicationName),
		OAuthApplicationID: p.int(colOAuthApplicationID),
		FileName:           p.int(colFileName),
		FolderPath:         p.int(colFolderPath),
		ResourceIDName:     p.int(colResourceIDName),
		ResourceType:       p.int(colResourceType),
		OSFamily:           p.int(colOSFamily),
		OSVersion:          p.int(colOSVersion),
		CountryCode:        p.int(colCountryCode),
		State:              p.int(colState),
		City:               p.int(colCity),
	}
	if p.bad >= 0 {
		r.malformed++
		fl, _ := r.csv.FieldPos(p.bad)
		return Row{}, &RowError{File: r.name, Line: fl, Column: columnName(p.bad), Problem: p.problem}
	}
	row.Category = r.intern(rec[colCategory])
	row.MitreTechniques = r.list(rec[colMitreTechniques])
	row.ActionGrouped = r.intern(rec[colActionGrouped])
	row.ActionGranular = r.intern(rec[colActionGranular])
	row.EntityType = r.intern(rec[colEntityType])
	row.EvidenceRole = r.intern(rec[colEvidenceRole])
	row.ThreatFamily = r.intern(rec[colThreatFamily])
	row.Roles = r.intern(rec[colRoles])
	row.AntispamDirection = r.intern(rec[colAntispamDirection])
	row.SuspicionLevel = r.intern(rec[colSuspicionLevel])
	row.LastVerdict = r.intern(rec[colLastVerdict])
	if r.test {
		row.Usage = r.intern(rec[colUsage])
	}
	return row, nil
}

func columnName(i int) string {
	if i < len(Columns) {
		return Columns[i]
	}
	return UsageColumn
}

func quoteProblem(pe *csv.ParseError) string {
	where := fmt.Sprintf("character %d", pe.Column)
	if pe.Line != pe.StartLine {
		where = fmt.Sprintf("line %d, character %d", pe.Line, pe.Column)
	}
	return fmt.Sprintf("quoting: %v (at %s)", pe.Err, where)
}

// intern returns s, shared with every earlier equal string, and never a substring of the record (which
// would pin the whole line in memory).
func (r *Reader) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := r.strs[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(r.strs) < maxInterned {
		r.strs[v] = v
	}
	return v
}

// list splits a MitreTechniques cell on ';', dropping empty items; equal cells share one slice.
func (r *Reader) list(s string) []string {
	if s == "" {
		return nil
	}
	if v, ok := r.lists[s]; ok {
		return v
	}
	var v []string
	for item := range strings.SplitSeq(s, ";") {
		if item = strings.TrimSpace(item); item != "" {
			v = append(v, r.intern(item))
		}
	}
	v = v[:len(v):len(v)] // an append by the caller copies instead of writing into the shared array
	if len(r.lists) < maxInterned {
		r.lists[strings.Clone(s)] = v
	}
	return v
}

// parser converts a record's cells and keeps the first problem.
type parser struct {
	rec     []string
	bad     int
	problem string
}

func (p *parser) fail(col int, problem string) {
	if p.bad < 0 {
		p.bad, p.problem = col, problem
	}
}

func (p *parser) int(col int) int64 {
	v, ok := parseInt(p.rec[col])
	if !ok {
		p.fail(col, clip(p.rec[col])+" is not an integer")
	}
	return v
}

func (p *parser) time(col int) time.Time {
	t, ok := parseTimestamp(p.rec[col])
	if !ok {
		p.fail(col, clip(p.rec[col])+" is not an ISO 8601 UTC time like 2024-06-06T17:32:50.000Z")
	}
	return t
}

func (p *parser) grade(col int) Grade {
	switch s := p.rec[col]; s {
	case "":
		return ""
	case string(GradeTruePositive):
		return GradeTruePositive
	case string(GradeBenignPositive):
		return GradeBenignPositive
	case string(GradeFalsePositive):
		return GradeFalsePositive
	default:
		p.fail(col, "unknown grade "+clip(s)+": want TruePositive, BenignPositive, FalsePositive or empty")
		return ""
	}
}

// clip quotes a cell for a message, shortened: a message must stay readable whatever the input.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// parseInt parses a decimal integer; an empty cell is 0.
func parseInt(s string) (int64, bool) {
	if s == "" {
		return 0, true
	}
	if len(s) > 18 { // may overflow: the slow path checks
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
		if s == "" {
			return 0, false
		}
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int64(d)
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseTimestamp parses GUIDE's 2024-06-06T17:32:50.000Z quickly, and any other RFC 3339 time through
// the time package; the result is UTC. An empty cell is the zero time.
func parseTimestamp(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	if len(s) == 24 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[19] == '.' && s[23] == 'Z' {
		y, ok1 := digits(s[0:4])
		mo, ok2 := digits(s[5:7])
		d, ok3 := digits(s[8:10])
		h, ok4 := digits(s[11:13])
		mi, ok5 := digits(s[14:16])
		sec, ok6 := digits(s[17:19])
		ms, ok7 := digits(s[20:23])
		if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) ||
			h > 23 || mi > 59 || sec > 59 {
			return time.Time{}, false
		}
		return time.Date(y, time.Month(mo), d, h, mi, sec, ms*1e6, time.UTC), true
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int(d)
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
