package guide

import (
	"cmp"
	"errors"
	"io"
	"iter"
	"math"
	"os"
	"slices"
	"time"
)

// field is a per-incident count list of Incident; its number goes into the packed count entries.
type field uint8

const (
	fieldDetector field = iota
	fieldAlertTitle
	fieldOSFamily
	fieldCountry
	// The string fields follow the integer ones.
	fieldCategory
	fieldTechnique
	fieldEntityType
	fieldEvidenceRole
	fieldSuspicionLevel
	fieldLastVerdict
	fieldThreatFamily
	fieldRoles
	fieldAction
	numFields
	numIntFields = fieldCategory
)

// A count entry packs field (4 bits) and value ID (28 bits) into its upper 32 bits and the count into
// its lower 32: an incident's entries sorted as integers are sorted by field, then value ID.
const (
	idBits = 28
	maxID  = 1<<idBits - 1
)

// chunkSize is the number of accumulators per chunk: the store grows without copying what it holds.
const chunkSize = 1 << 12

// Aggregator folds rows into incidents keyed by (OrgId, IncidentId). Its memory grows with the number
// of incidents and of distinct categorical values, never with the number of rows: an incident is a
// compact accumulator (packed value counts, its distinct alert IDs, its time bounds and grade votes),
// and values are interned once for all incidents. Rows may come in any order.
//
// What Incidents reports, per incident:
//   - Grade: the most common non-empty grade of its rows; a tie goes to the grade first in Grades
//     (TruePositive, then BenignPositive); empty when no row has a grade.
//   - Counts of every value of the integer columns (DetectorId, AlertTitle, OSFamily, CountryCode), and of
//     the non-empty values of the string columns: rows with an empty SuspicionLevel are Rows minus the
//     SuspicionLevel counts. Techniques count each technique of each row.
//   - First and Last: the earliest and latest timestamps (zero when no row has one).
//   - Actions: the distinct ActionGranular labels (ActionGrouped when ActionGranular is empty).
//   - Entities: the distinct identifiers of the entity columns (see EntityColumn), GUIDE's "not
//     applicable" values among them; of more than MaxEntities, a sample that does not depend on the
//     order of the rows.
//
// An Aggregator is not safe for concurrent use.
type Aggregator struct {
	index  map[Key]int32
	chunks [][]accumulator
	n      int

	strIDs map[string]uint32
	strs   []string
	intIDs map[int64]uint32
	ints   []int64

	// entityBuf holds a row's entity keys while they are added.
	entityBuf []uint64

	// The last value seen per field and its ID: rows in a row mostly repeat their neighbours' values.
	lastStr [numFields]struct {
		s  string
		id uint32
		ok bool
	}
	lastInt [numIntFields]struct {
		v  int64
		id uint32
		ok bool
	}
}

// accumulator is what an incident keeps of its rows.
type accumulator struct {
	counts      []uint64 // packed entries, sorted
	alerts      []int64  // distinct alert IDs, sorted
	entities    []uint64 // distinct EntityKey values, sorted, at most MaxEntities (see addEntity)
	first, last int64    // Unix milliseconds; first > last while no row had a time
	rows        int32
	grades      [3]int32 // votes, in the order of Grades
}

// NewAggregator returns an empty Aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{
		index:  make(map[Key]int32),
		strIDs: make(map[string]uint32),
		intIDs: make(map[int64]uint32),
	}
}

// Len is the number of incidents so far.
func (a *Aggregator) Len() int { return a.n }

func (a *Aggregator) acc(i int32) *accumulator {
	return &a.chunks[i/chunkSize][i%chunkSize]
}

// Add folds one row into its incident.
func (a *Aggregator) Add(row Row) {
	k := Key{OrgID: row.OrgID, IncidentID: row.IncidentID}
	i, ok := a.index[k]
	if !ok {
		if a.n == math.MaxInt32 {
			panic("guide: more than 2^31 incidents")
		}
		if a.n%chunkSize == 0 {
			a.chunks = append(a.chunks, make([]accumulator, chunkSize))
		}
		i = int32(a.n)
		a.n++
		a.index[k] = i
		acc := a.acc(i)
		acc.first, acc.last = math.MaxInt64, math.MinInt64
	}
	acc := a.acc(i)
	acc.rows++
	switch row.Grade {
	case GradeTruePositive:
		acc.grades[0]++
	case GradeBenignPositive:
		acc.grades[1]++
	case GradeFalsePositive:
		acc.grades[2]++
	}
	if !row.Timestamp.IsZero() {
		ms := row.Timestamp.UnixMilli()
		acc.first = min(acc.first, ms)
		acc.last = max(acc.last, ms)
	}
	acc.addAlert(row.AlertID)
	a.entityBuf = row.entityValues(a.entityBuf[:0])
	for _, e := range a.entityBuf {
		acc.entities = addEntity(acc.entities, e)
	}

	acc.bump(fieldDetector, a.intID(fieldDetector, row.DetectorID))
	acc.bump(fieldAlertTitle, a.intID(fieldAlertTitle, row.AlertTitle))
	acc.bump(fieldOSFamily, a.intID(fieldOSFamily, row.OSFamily))
	acc.bump(fieldCountry, a.intID(fieldCountry, row.CountryCode))
	a.bumpStr(acc, fieldCategory, row.Category)
	for _, t := range row.MitreTechniques {
		a.bumpStr(acc, fieldTechnique, t)
	}
	a.bumpStr(acc, fieldEntityType, row.EntityType)
	a.bumpStr(acc, fieldEvidenceRole, row.EvidenceRole)
	a.bumpStr(acc, fieldSuspicionLevel, row.SuspicionLevel)
	a.bumpStr(acc, fieldLastVerdict, row.LastVerdict)
	a.bumpStr(acc, fieldThreatFamily, row.ThreatFamily)
	a.bumpStr(acc, fieldRoles, row.Roles)
	action := row.ActionGranular
	if action == "" {
		action = row.ActionGrouped
	}
	a.bumpStr(acc, fieldAction, action)
}

func (a *Aggregator) bumpStr(acc *accumulator, f field, s string) {
	if s == "" {
		return
	}
	last := &a.lastStr[f]
	if !last.ok || last.s != s {
		id, ok := a.strIDs[s]
		if !ok {
			id = uint32(len(a.strs))
			if id > maxID {
				panic("guide: too many distinct values")
			}
			a.strs = append(a.strs, s)
			a.strIDs[s] = id
		}
		last.s, last.id, last.ok = s, id, true
	}
	acc.bump(f, last.id)
}

func (a *Aggregator) intID(f field, v int64) uint32 {
	last := &a.lastInt[f]
	if last.ok && last.v == v {
		return last.id
	}
	id, ok := a.intIDs[v]
	if !ok {
		id = uint32(len(a.ints))
		if id > maxID {
			panic("guide: too many distinct values")
		}
		a.ints = append(a.ints, v)
		a.intIDs[v] = id
	}
	last.v, last.id, last.ok = v, id, true
	return id
}

// bump counts one more row with value id of field f.
func (acc *accumulator) bump(f field, id uint32) {
	key := uint32(f)<<idBits | id
	c := acc.counts
	lo, hi := 0, len(c)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if uint32(c[m]>>32) < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(c) && uint32(c[lo]>>32) == key {
		if uint32(c[lo]) != math.MaxUint32 {
			c[lo]++
		}
		return
	}
	acc.counts = insert(c, lo, uint64(key)<<32|1)
}

func (acc *accumulator) addAlert(id int64) {
	i, found := slices.BinarySearch(acc.alerts, id)
	if !found {
		acc.alerts = insert(acc.alerts, i, id)
	}
}

// insert puts v at index i, growing s by half (not append's doubling) with a capacity that fills the
// allocation's size class: the per-incident slices stay small and tight.
func insert[T any](s []T, i int, v T) []T {
	if len(s) < cap(s) {
		s = s[:len(s)+1]
		copy(s[i+1:], s[i:])
		s[i] = v
		return s
	}
	grown := slices.Grow([]T(nil), len(s)+max(2, len(s)/2))
	grown = append(grown, s[:i]...)
	grown = append(grown, v)
	return append(grown, s[i:]...)
}

// Incidents returns every incident, sorted by Key.
func (a *Aggregator) Incidents() []Incident {
	out := make([]Incident, 0, a.n)
	for inc := range a.All() {
		out = append(out, inc)
	}
	return out
}

// All yields the incidents sorted by Key, built one at a time: a caller that stores or forwards them
// needs no memory for all of them at once.
func (a *Aggregator) All() iter.Seq[Incident] {
	return func(yield func(Incident) bool) {
		type entry struct {
			k Key
			i int32
		}
		keys := make([]entry, 0, len(a.index))
		for k, i := range a.index {
			keys = append(keys, entry{k, i})
		}
		slices.SortFunc(keys, func(x, y entry) int {
			if c := cmp.Compare(x.k.OrgID, y.k.OrgID); c != 0 {
				return c
			}
			return cmp.Compare(x.k.IncidentID, y.k.IncidentID)
		})
		var s slabs
		for _, e := range keys {
			if !yield(a.incident(e.k, a.acc(e.i), &s)) {
				return
			}
		}
	}
}

// slabs hand out the count lists of many incidents from few allocations.
type slabs struct {
	ints []Count[int64]
	strs []Count[string]
	acts []string
	ents []uint64
}

const slabSize = 1024

func take[T any](slab *[]T, n int) []T {
	if n == 0 {
		return nil
	}
	if len(*slab)+n > cap(*slab) {
		*slab = make([]T, 0, max(slabSize, n))
	}
	start := len(*slab)
	*slab = (*slab)[:start+n]
	return (*slab)[start : start+n : start+n]
}

func (a *Aggregator) incident(k Key, acc *accumulator, s *slabs) Incident {
	inc := Incident{Key: k, Rows: acc.rows, Alerts: int32(len(acc.alerts))}
	best := -1
	for g, n := range acc.grades {
		if n > 0 && (best < 0 || n > acc.grades[best]) {
			best = g
		}
	}
	if best >= 0 {
		inc.Grade = Grades[best]
	}
	if len(acc.entities) > 0 {
		inc.Entities = take(&s.ents, len(acc.entities))
		copy(inc.Entities, acc.entities)
	}
	if acc.first <= acc.last {
		inc.First = time.UnixMilli(acc.first).UTC()
		inc.Last = time.UnixMilli(acc.last).UTC()
	}
	// The entries are grouped by field: walk the groups.
	c := acc.counts
	for start := 0; start < len(c); {
		f := field(c[start] >> (32 + idBits))
		end := start + 1
		for end < len(c) && field(c[end]>>(32+idBits)) == f {
			end++
		}
		group := c[start:end]
		start = end
		if f < numIntFields {
			list := take(&s.ints, len(group))
			for j, e := range group {
				list[j] = Count[int64]{Value: a.ints[uint32(e>>32)&maxID], N: count(e)}
			}
			slices.SortFunc(list, func(x, y Count[int64]) int { return cmp.Compare(x.Value, y.Value) })
			switch f {
			case fieldDetector:
				inc.Detectors = list
			case fieldAlertTitle:
				inc.AlertTitles = list
			case fieldOSFamily:
				inc.OSFamilies = list
			case fieldCountry:
				inc.Countries = list
			}
			continue
		}
		if f == fieldAction {
			list := take(&s.acts, len(group))
			for j, e := range group {
				list[j] = a.strs[uint32(e>>32)&maxID]
			}
			slices.Sort(list)
			inc.Actions = list
			continue
		}
		list := take(&s.strs, len(group))
		for j, e := range group {
			list[j] = Count[string]{Value: a.strs[uint32(e>>32)&maxID], N: count(e)}
		}
		slices.SortFunc(list, func(x, y Count[string]) int { return cmp.Compare(x.Value, y.Value) })
		switch f {
		case fieldCategory:
			inc.Categories = list
		case fieldTechnique:
			inc.Techniques = list
		case fieldEntityType:
			inc.EntityTypes = list
		case fieldEvidenceRole:
			inc.EvidenceRoles = list
		case fieldSuspicionLevel:
			inc.SuspicionLevel = list
		case fieldLastVerdict:
			inc.LastVerdicts = list
		case fieldThreatFamily:
			inc.ThreatFamilies = list
		case fieldRoles:
			inc.Roles = list
		}
	}
	return inc
}

func count(e uint64) int32 {
	return int32(min(uint32(e), math.MaxInt32))
}

// Stats count what ReadFiles read: well-formed rows aggregated, malformed rows skipped, incidents.
type Stats struct{ Rows, Malformed, Incidents int }

// ReadFiles streams every file into one Aggregator and returns its incidents, sorted by Key. Malformed
// rows are skipped and counted; onMalformed, when not nil, sees each. A file that cannot be opened or
// read, or whose header is not GUIDE's, is an error naming the file.
func ReadFiles(paths []string, onMalformed func(*RowError)) ([]Incident, Stats, error) {
	agg := NewAggregator()
	var st Stats
	for _, p := range paths {
		if err := readFile(p, agg, &st, onMalformed); err != nil {
			return nil, st, err
		}
	}
	st.Incidents = agg.Len()
	return agg.Incidents(), st, nil
}

func readFile(path string, agg *Aggregator, st *Stats, onMalformed func(*RowError)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := NewReader(f, path)
	if err != nil {
		return err
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			return nil
		}
		var re *RowError
		if errors.As(err, &re) {
			st.Malformed++
			if onMalformed != nil {
				onMalformed(re)
			}
			continue
		}
		if err != nil {
			return err // it names the file
		}
		st.Rows++
		agg.Add(row)
	}
}
