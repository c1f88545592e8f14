// Package guidegen writes synthetic files in the format of Microsoft's GUIDE dataset (GUIDE_Train.csv,
// or GUIDE_Test.csv with its Usage column), of any size, for tests and benchmarks of the importer and
// the models: the real files are not in the repository and cannot be downloaded here.
//
// The files have GUIDE's structure where the models care:
//   - grades about 43% BenignPositive, 35% TruePositive, 22% FalsePositive of rows;
//   - 9,100 detectors with a Zipf popularity, each with its own grade tendency (about a third decisive,
//     the others mixed around their category's lean), its category, alert titles, MITRE techniques
//     (empty for half) and threat family;
//   - organisations of Zipf sizes with their own grade base rates and favourite detectors, some of which
//     they always grade one way whatever the detector's tendency;
//   - 1-20 alerts of 1-30 evidence rows per incident (heavy-tailed, 9.5 rows on average, more alerts for
//     true positives), entity types mixed by category, evidence roles by entity type;
//   - SuspicionLevel, LastVerdict, foreign IP addresses and the detectors of later alerts correlated with
//     the incident's grade, so that a model can learn beyond the detector;
//   - anonymised integer entity columns holding GUIDE's "not applicable" values where an entity type
//     does not apply; entities recur within an organisation, and some true-positive indicators across
//     organisations;
//   - remediation actions on about 2.6% of incidents, mostly true positives, chosen by entity type;
//   - 6% of incidents graded against their tendency, so that no model can be perfect (LabelNoise);
//   - timestamps within 2024; rows of concurrent incidents interleaved.
//
// Generation is deterministic for a seed, streams (memory does not grow with the file) and runs at
// several hundred thousand rows a second.
package guidegen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/guided-response/guided/guide"
)

// Options configure Generate.
type Options struct {
	// Rows is the number of data rows written after the header, malformed ones included.
	Rows int
	// Orgs is the number of organisations; 0 picks one organisation per 1,500 rows, between 20 and
	// GUIDE's 6,100.
	Orgs int
	// Seed seeds every random choice: the same options write the same bytes.
	Seed int64
	// Test writes the test file's layout: a last column Usage (Public or Private, per incident).
	Test bool
	// MalformedEvery makes every Nth row malformed, in a varied way (a field missing or added, a cell
	// that is not an integer or not a timestamp, an unknown grade, a bad quote); 0 writes none. Each
	// malformed row is one line: a reader skips it and goes on.
	MalformedEvery int
	// LabelNoise is the share of incidents graded against their tendency, so that no model can be
	// perfect: 0 is DefaultLabelNoise (6%), a negative value none, at most 0.5. The grade shares of the
	// rows stay GUIDE's whatever the noise.
	LabelNoise float64
}

// Summary says what Generate wrote.
type Summary struct {
	// Rows is the number of data rows written, malformed ones included.
	Rows int
	// Incidents is the number of incidents with at least one well-formed row.
	Incidents int
	// Malformed is the number of malformed rows.
	Malformed int
}

// window is the number of incidents whose rows are interleaved at any time.
const window = 48

// DefaultOrgs is the number of organisations Generate uses for a number of rows when Options.Orgs is 0.
func DefaultOrgs(rows int) int {
	return min(6100, max(20, rows/1500))
}

// Generate writes a GUIDE-format file: the header and opts.Rows rows.
func Generate(w io.Writer, opts Options) (Summary, error) {
	switch {
	case opts.Rows < 0:
		return Summary{}, fmt.Errorf("guidegen: rows must not be negative (got %d)", opts.Rows)
	case opts.Orgs < 0:
		return Summary{}, fmt.Errorf("guidegen: orgs must not be negative (got %d)", opts.Orgs)
	case opts.MalformedEvery < 0:
		return Summary{}, fmt.Errorf("guidegen: malformed-every must not be negative (got %d)", opts.MalformedEvery)
	case opts.LabelNoise > 0.5:
		return Summary{}, fmt.Errorf("guidegen: label noise %g: give a share of at most 0.5", opts.LabelNoise)
	}
	switch {
	case opts.LabelNoise == 0:
		opts.LabelNoise = DefaultLabelNoise
	case opts.LabelNoise < 0:
		opts.LabelNoise = 0
	}
	if opts.Orgs == 0 {
		opts.Orgs = DefaultOrgs(opts.Rows)
	}
	r := rand.New(rand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15))
	g := &generator{
		opts:  opts,
		w:     newWorld(r, opts.Orgs, opts.LabelNoise),
		r:     r,
		out:   bufio.NewWriterSize(w, 256<<10),
		epoch: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix(),
	}
	g.end = time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	if err := g.run(); err != nil {
		return g.sum, err
	}
	return g.sum, nil
}

type generator struct {
	opts  Options
	w     *world
	r     *rand.Rand
	out   *bufio.Writer
	sum   Summary
	epoch int64
	end   int64

	nextID    int64
	nextAlert int64
	slots     [window]pending

	// Scratch space of one incident.
	alerts   []alertGen
	evidence []evidenceGen
	line     []byte
}

// pending is an incident being written: its rows, formatted, and how far they have been written.
type pending struct {
	buf  []byte
	ends []int32 // end offset of each row in buf (after its '\n')
	next int
	good int
}

type alertGen struct {
	id    int64
	det   int32
	title int64
	stamp [24]byte
}

type evidenceGen struct {
	alert   int16
	entity  uint8
	role    uint8 // 0 Related, 1 Impacted
	susp    uint8 // 0 empty, 1 Suspicious, 2 Incriminated
	verdict uint8 // 0 empty, 1 Suspicious, 2 Malicious, 3 NoThreatsFound
	roles   int8  // index into roles, -1 none
	family  int8  // 0 none, 1 the detector's family, 2 another
	global  bool  // an indicator shared across organisations
	action  int8  // index into the incident's actions, -1 none
	value   int32 // the entity's index in its pool
}

// run writes the header and the rows. Up to window incidents are open at once; each row comes from one
// of them at random. No incident is cut: the open incidents never hold more rows than are left to
// write, and the last ones drawn are shortened to fit.
func (g *generator) run() error {
	if err := g.writeHeader(); err != nil {
		return err
	}
	var open [window]int // indexes of the open slots
	nOpen, pendingRows := 0, 0
	refill := func(slot, left int) {
		if budget := left - pendingRows; budget > 0 {
			s := &g.slots[slot]
			g.newIncident(s, budget)
			pendingRows += len(s.ends)
			open[nOpen] = slot
			nOpen++
		}
	}
	for i := range g.slots {
		refill(i, g.opts.Rows)
	}
	for written := 0; written < g.opts.Rows; written++ {
		j := g.r.IntN(nOpen)
		s := &g.slots[open[j]]
		start := int32(0)
		if s.next > 0 {
			start = s.ends[s.next-1]
		}
		row := s.buf[start:s.ends[s.next]]
		s.next++
		pendingRows--
		g.sum.Rows++
		if g.opts.MalformedEvery > 0 && (written+1)%g.opts.MalformedEvery == 0 {
			g.sum.Malformed++
			row = g.corrupt(row)
		} else {
			s.good++
		}
		if _, err := g.out.Write(row); err != nil {
			return err
		}
		if s.next == len(s.ends) {
			if s.good > 0 {
				g.sum.Incidents++
			}
			slot := open[j]
			nOpen--
			open[j] = open[nOpen]
			refill(slot, g.opts.Rows-written-1)
		}
	}
	return g.out.Flush()
}

func (g *generator) writeHeader() error {
	for i, c := range guide.Columns {
		if i > 0 {
			g.out.WriteByte(',')
		}
		g.out.WriteString(c)
	}
	if g.opts.Test {
		g.out.WriteString("," + guide.UsageColumn)
	}
	_, err := g.out.WriteString("\n")
	return err
}

// Pool sizes of an organisation's entities (scaled by its size); indicators shared across organisations
// come from pools of their own.
var poolSize = [numEntities]int{
	entIP: 4000, entUser: 2000, entMailMessage: 1 << 30, entMachine: 1500, entFile: 3000, entURL: 4000,
	entProcess: 3000, entMailCluster: 1 << 20, entCloudApplication: 300, entOAuthApplication: 80,
	entRegistryValue: 400, entRegistryKey: 400, entAzureResource: 200, entMalware: 500,
}

// identity maps entity types that name the same thing to one pool: a mailbox is its user's.
func identity(entity int) int {
	switch entity {
	case entMailbox, entMailboxConfiguration, entCloudLogonRequest:
		return entUser
	case entProcess, entMalware:
		return entFile
	}
	return entity
}

func (g *generator) draw(o *org, entity int) int32 {
	n := poolSize[identity(entity)]
	if n == 0 {
		n = 100
	}
	if n < 1<<20 {
		n = max(3, int(float64(n)*o.scale))
	}
	u := g.r.Float64()
	return int32(float64(n) * u * u)
}

// newIncident draws an incident and formats its rows into s: at most limit of them (the rest is cut).
func (g *generator) newIncident(s *pending, limit int) {
	w, r := g.w, g.r
	o := &w.orgs[pick(r, w.orgCum)]
	d0, override := w.primary(r, o)
	grade := pick3(r, w.gradeProbs(o, d0, override))
	label := grade
	if r.Float64() < g.opts.LabelNoise {
		label = (grade + 1 + r.IntN(2)) % 3
	}
	incidentID := o.next
	o.next += 1 + int64(r.IntN(3))
	usage := "Private"
	if r.Float64() < 0.4 {
		usage = "Public"
	}

	// Alerts: the first from the primary detector; later ones repeat it or come from detectors whose
	// tendency fits the incident's grade (the better of two draws).
	nAlerts := 1 + pick(r, w.alertCum[grade])
	g.alerts = g.alerts[:0]
	t := g.epoch + r.Int64N(g.end-g.epoch-86400)
	for a := range nAlerts {
		det := d0
		if a > 0 && r.Float64() >= 0.4 {
			c1, _ := w.primary(r, o)
			c2, _ := w.primary(r, o)
			det = c1
			if w.detectors[c2].p[grade] > w.detectors[c1].p[grade] {
				det = c2
			}
		}
		if a > 0 {
			if r.Float64() < 0.7 {
				t += int64(r.ExpFloat64() * 300)
			} else {
				t += int64(r.ExpFloat64() * 6 * 3600)
			}
			t = min(t, g.end)
		}
		d := &w.detectors[det]
		u := r.Float64()
		al := alertGen{id: g.nextAlert, det: det, title: d.titleBase + int64(float64(d.titles)*u*u)}
		g.nextAlert += 1 + int64(r.IntN(2))
		g.line = time.Unix(t, 0).UTC().AppendFormat(g.line[:0], "2006-01-02T15:04:05.000Z")
		copy(al.stamp[:], g.line)
		g.alerts = append(g.alerts, al)
	}

	// Evidence: the incident's focus entities recur; the others come from the organisation's estate.
	var focus [numEntities]int32
	for e := range focus {
		focus[e] = -1
	}
	g.evidence = g.evidence[:0]
	var present [numEntities]bool
	for a := range g.alerts {
		d := &w.detectors[g.alerts[a].det]
		cat := &categories[d.cat]
		n := 1 + pick(r, w.rowsCum)
		for i := range n {
			entity := d.main
			if i > 0 {
				if r.Float64() < 0.03 {
					entity = rareEntities[r.IntN(len(rareEntities))]
				} else {
					entity = cat.entities[pick(r, w.entCum[d.cat])].entity
				}
			}
			ev := evidenceGen{alert: int16(a), entity: uint8(entity), roles: -1, action: -1}
			id := identity(entity)
			if focus[id] < 0 {
				focus[id] = g.draw(o, entity)
			}
			ev.value = focus[id]
			if r.Float64() < 0.35 {
				ev.value = g.draw(o, entity)
			}
			if grade == tp && (entity == entIP || entity == entURL || entity == entFile) && r.Float64() < 0.3 {
				// An indicator of a campaign that hits several organisations.
				u := r.Float64()
				ev.global, ev.value = true, int32(500*u*u)
			}
			if r.Float64() < impacted[entity] {
				ev.role = 1
			}
			ev.susp, ev.verdict = g.verdicts(grade, verdictProne[entity])
			if r.Float64() < 0.03 {
				ev.roles = int8(pick(r, w.rolesCum))
			}
			switch {
			case entity == entMalware:
				ev.family = 2
				if d.family != "" {
					ev.family = 1
				}
			case d.family != "" && (entity == entFile || entity == entProcess) && r.Float64() < 0.7:
				ev.family = 1
			}
			present[entity] = true
			g.evidence = append(g.evidence, ev)
		}
	}
	actions := g.actions(grade, &categories[w.detectors[d0].cat], &present, focus)

	// Format.
	s.buf, s.ends, s.next, s.good = s.buf[:0], s.ends[:0], 0, 0
	for i := range g.evidence[:min(limit, len(g.evidence))] {
		ev := &g.evidence[i]
		rowLabel := gradeNames[label]
		if r.Float64() < blankGrade {
			rowLabel = ""
		}
		var act action
		if ev.action >= 0 {
			act = actions[ev.action]
		}
		s.buf = g.format(s.buf, o, incidentID, &g.alerts[ev.alert], ev, rowLabel, act, usage)
		s.ends = append(s.ends, int32(len(s.buf)))
		g.nextID++
	}
}

var (
	suspicionNames = [3]string{"", "Suspicious", "Incriminated"}
	verdictNames   = [4]string{"", "Suspicious", "Malicious", "NoThreatsFound"}
	// P(SuspicionLevel Suspicious, Incriminated) and P(LastVerdict Suspicious, Malicious, NoThreatsFound)
	// of a verdict-prone evidence row, by grade.
	suspicionP = [3][2]float64{tp: {0.32, 0.19}, bp: {0.19, 0.03}, fp: {0.13, 0.02}}
	verdictP   = [3][3]float64{tp: {0.29, 0.16, 0.08}, bp: {0.16, 0.02, 0.19}, fp: {0.10, 0.02, 0.22}}
)

func (g *generator) verdicts(grade int, prone bool) (susp, verdict uint8) {
	scale := 1.0
	if !prone {
		scale = 0.3
	}
	u := g.r.Float64()
	sp := suspicionP[grade]
	switch {
	case u < sp[0]*scale:
		susp = 1
	case u < (sp[0]+sp[1])*scale:
		susp = 2
	}
	if susp == 2 && g.r.Float64() < 0.6 {
		return susp, 2
	}
	u = g.r.Float64()
	vp := verdictP[grade]
	switch {
	case u < vp[0]*scale:
		verdict = 1
	case u < (vp[0]+vp[1])*scale:
		verdict = 2
	case u < (vp[0]+vp[1]+vp[2])*scale:
		verdict = 3
	}
	return susp, verdict
}

// actionP is the chance that an incident carries remediation-action labels, by its (latent) grade.
var actionP = [3]float64{tp: 0.10, bp: 0.005, fp: 0.004}

// actions decides the incident's remediation actions from its entity types and marks the evidence
// they apply to (the focus entity's rows, or the first row of the type).
func (g *generator) actions(grade int, cat *category, present *[numEntities]bool, focus [numEntities]int32) []action {
	r := g.r
	if r.Float64() >= actionP[grade] {
		return nil
	}
	type candidate struct {
		a      action
		entity int
		w      float64
	}
	var cands [3]candidate
	n := 0
	if present[entMachine] {
		w := 1.0
		if malwareLike(cat.name) {
			w = 3
		}
		cands[n] = candidate{isolate, entMachine, w}
		n++
	}
	if present[entUser] {
		w := 1.0
		if identityLike(cat.name) {
			w = 3
		}
		cands[n] = candidate{containUser[pick(r, g.w.containCum)], entUser, w}
		n++
	}
	if present[entFile] {
		w := 0.5
		if malwareLike(cat.name) {
			w = 2
		}
		cands[n] = candidate{quarantine, entFile, w}
		n++
	}
	if n == 0 {
		return nil
	}
	k := 1
	if n > 1 && r.Float64() < 0.3 {
		k = 2
	}
	var chosen []action
	for len(chosen) < k {
		total := 0.0
		for _, c := range cands[:n] {
			total += c.w
		}
		u := r.Float64() * total
		j := 0
		for ; j < n-1 && u >= cands[j].w; j++ {
			u -= cands[j].w
		}
		c := cands[j]
		cands[j] = cands[n-1]
		n--
		idx := int8(len(chosen))
		chosen = append(chosen, c.a)
		first, marked := -1, false
		for i := range g.evidence {
			ev := &g.evidence[i]
			if int(ev.entity) != c.entity || ev.action >= 0 {
				continue
			}
			if first < 0 {
				first = i
			}
			if ev.value == focus[identity(c.entity)] {
				ev.action, marked = idx, true
			}
		}
		if !marked && first >= 0 {
			g.evidence[first].action = idx
		}
	}
	return chosen
}

// hash mixes its inputs (splitmix64's finaliser): entity values are a function of who they are.
func hash(a, b, c, d uint64) uint64 {
	x := a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9 ^ c*0x94d049bb133111eb ^ d*0x2545f4914f6cdd1d
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// value is the anonymised value of column col for an entity: never the column's "not applicable".
func value(owner int64, entity int, idx int32, col int) int64 {
	n := valueRange[col]
	v := int64(hash(uint64(owner)+1, uint64(entity)+1, uint64(idx)+1, uint64(col)+1) % uint64(n))
	if v == notApplicable[col] {
		v = (v + 1) % n
	}
	return v
}

// format appends one row.
func (g *generator) format(b []byte, o *org, incidentID int64, al *alertGen, ev *evidenceGen, grade string, act action, usage string) []byte {
	d := &g.w.detectors[al.det]
	b = strconv.AppendInt(b, g.nextID, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, o.id, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, incidentID, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, al.id, 10)
	b = append(b, ',')
	b = append(b, al.stamp[:]...)
	b = append(b, ',')
	b = strconv.AppendInt(b, d.id, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, al.title, 10)
	b = append(b, ',')
	b = append(b, categories[d.cat].name...)
	b = append(b, ',')
	b = append(b, d.techniques...)
	b = append(b, ',')
	b = append(b, grade...)
	b = append(b, ',')
	b = append(b, act.grouped...)
	b = append(b, ',')
	b = append(b, act.granular...)
	b = append(b, ',')
	entity := int(ev.entity)
	b = append(b, entityNames[entity]...)
	b = append(b, ',')
	if ev.role == 1 {
		b = append(b, "Impacted"...)
	} else {
		b = append(b, "Related"...)
	}

	vals := notApplicable
	owner, idx := o.id, ev.value
	if ev.global {
		owner = -1
	}
	for _, col := range entityColumns[entity] {
		switch col {
		case cCountryCode, cState, cCity:
			// An address is abroad when it is a shared indicator, or for some of the organisation's own.
			country, state, city := o.country, o.state, o.city
			if ev.global || hash(uint64(owner), uint64(idx), 5, 5)%100 < 15 {
				country = int64(pickHash(g.w.countryCum, hash(uint64(owner), uint64(idx), 6, 6)))
				if country == o.country {
					country = (country + 1) % numCountries
				}
				state, city = value(country, entIP, idx, cState), value(country, entIP, idx, cCity)
			}
			vals[cCountryCode], vals[cState], vals[cCity] = country, state, city
		case cOSFamily:
			vals[col] = osFamily(hash(uint64(o.id), uint64(idx), 7, 7))
		case cDeviceID:
			if entity == entProcess { // the machine the process ran on
				vals[col] = value(o.id, entMachine, idx%int32(max(3, int(float64(poolSize[entMachine])*o.scale))), col)
				break
			}
			vals[col] = value(owner, identity(entity), idx, col)
		default:
			vals[col] = value(owner, identity(entity), idx, col)
		}
	}
	for col := range numEntityColumns {
		b = append(b, ',')
		switch col {
		case cThreatFamily:
			switch ev.family {
			case 1:
				b = append(b, d.family...)
			case 2:
				b = append(b, threatFamilies[int(idx)%len(threatFamilies)]...)
			}
		case cRoles:
			if ev.roles >= 0 {
				b = append(b, roles[ev.roles]...)
			}
		case cAntispamDirection:
			if entity == entMailMessage {
				b = append(b, antispam(hash(uint64(o.id), uint64(idx), 3, 3))...)
			}
		case cSuspicionLevel:
			b = append(b, suspicionNames[ev.susp]...)
		case cLastVerdict:
			b = append(b, verdictNames[ev.verdict]...)
		default:
			switch v := vals[col]; {
			case v == notApplicable[col]:
				b = append(b, notApplicableText[col]...)
			case v >= 0:
				b = strconv.AppendInt(b, v, 10)
			}
		}
	}
	if g.opts.Test {
		b = append(b, ',')
		b = append(b, usage...)
	}
	return append(b, '\n')
}

func osFamily(h uint64) int64 {
	switch u := h % 100; {
	case u < 72:
		return 0
	case u < 85:
		return 1
	case u < 93:
		return 2
	case u < 98:
		return 3
	}
	return 4
}

func antispam(h uint64) string {
	switch u := h % 100; {
	case u < 85:
		return "Inbound"
	case u < 93:
		return "Intraorg"
	case u < 98:
		return "Outbound"
	}
	return "Unknown"
}

// Kinds of malformed rows.
const (
	badMissingField = iota
	badExtraField
	badInteger
	badTimestamp
	badGrade
	badBareQuote
	badQuotedField
	numBadKinds
)

// integerColumns are the columns a bad integer may go into.
var integerColumns = []int{0, 1, 2, 3, 5, 6, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
	32, 33, 34, 35, 37, 38, 42, 43, 44}

// corrupt returns a malformed copy of a formatted row (one line; generated cells hold no quote and no
// comma, so fields are found by their commas).
func (g *generator) corrupt(row []byte) []byte {
	r := g.r
	row = row[:len(row)-1] // the '\n'
	b := g.line[:0]
	switch r.IntN(numBadKinds) {
	case badMissingField:
		last := lastComma(row)
		b = append(b, row[:last]...)
	case badExtraField:
		b = append(append(b, row...), ",1"...)
	case badInteger:
		col := integerColumns[r.IntN(len(integerColumns))]
		start, end := field(row, col)
		cell := string(row[start:end])
		bad := [...]string{cell + "x", "n/a", cell + ".5", "-", "0x1F", "1e3"}[r.IntN(6)]
		b = splice(b, row, start, end, bad)
	case badTimestamp:
		start, end := field(row, 4)
		bad := [...]string{"2024-13-01T00:00:00.000Z", "2024-06-31T10:00:00.000Z", "2024-06-06T24:00:00.000Z",
			"yesterday", "2024/06/06 17:32:50", "2024-06-06T17:32:50.000"}[r.IntN(6)]
		b = splice(b, row, start, end, bad)
	case badGrade:
		start, end := field(row, 9)
		bad := [...]string{"Maybe", "truepositive", "Unknown", "TP", "Benign Positive"}[r.IntN(5)]
		b = splice(b, row, start, end, bad)
	case badBareQuote: // a quote inside an unquoted cell: the Category, never empty
		start, end := field(row, 7)
		b = splice(b, row, start, end, string(row[start:start+2])+`"`+string(row[start+2:end]))
	case badQuotedField: // text after a quoted cell's closing quote
		start, end := field(row, 6)
		b = splice(b, row, start, end, `"`+string(row[start:end])+`"x`)
	}
	g.line = append(b, '\n')
	return g.line
}

func lastComma(row []byte) int {
	for i := len(row) - 1; i >= 0; i-- {
		if row[i] == ',' {
			return i
		}
	}
	return 0
}

// field returns the bounds of column col.
func field(row []byte, col int) (start, end int) {
	for i := 0; col > 0; i++ {
		if row[i] == ',' {
			col--
			start = i + 1
		}
	}
	end = start
	for end < len(row) && row[end] != ',' {
		end++
	}
	return start, end
}

func splice(b, row []byte, start, end int, cell string) []byte {
	b = append(b, row[:start]...)
	b = append(b, cell...)
	return append(b, row[end:]...)
}
