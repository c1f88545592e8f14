// Package learn is the guided response's learned models and their offline evaluation: the triage model
// (gradient-boosted trees over incident features, calibrated so that its confidence means something,
// abstaining below a threshold, with the features that drove each prediction), the similar-incident
// embedding, and the remediation-action recommendations. It learns from GUIDE incidents (package guide)
// and scores incidents of our own model (package incident) through the same features (FromIncident).
//
// Files: features.go (the feature vector and its out-of-fold target encodings), gbdt.go (the boosted
// trees), calibrate.go (temperature scaling, thresholds), embed.go (embedding, exact nearest
// neighbours), actions.go (action recommendations), model.go (the trained bundle: Train, Predict,
// Explain, Save, Load), live.go (our incidents as GUIDE aggregates), eval.go (splits and the offline
// evaluation behind `starter eval`).
//
// Nothing here knows about Temporal or Postgres: a model is trained from a slice of incidents, saved as
// one JSON document and loaded by whoever scores. Only the standard library is used.
package learn

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/guided-response/guided/guide"
)

// FeaturesVersion names the feature layout; a model records it and refuses another.
const FeaturesVersion = "features-v2"

// NumClasses is the number of grades, the classes of the triage model (indexes into guide.Grades).
const NumClasses = 3

// Pointers returns pointers to the incidents: the sets the models learn from are slices of pointers, so
// that splitting a million incidents copies no incident.
func Pointers(incs []guide.Incident) []*guide.Incident {
	out := make([]*guide.Incident, len(incs))
	for i := range incs {
		out[i] = &incs[i]
	}
	return out
}

// GradeIndex is g's class index in guide.Grades, or -1 when g is not a valid grade.
func GradeIndex(g guide.Grade) int {
	for i, x := range guide.Grades {
		if x == g {
			return i
		}
	}
	return -1
}

// The target-encoding tables: for each value, how many training incidents having it got each grade.
const (
	tableDetector = iota
	tableTitle
	tableOrg
	tableOrgDetector
	tableTechnique
	tableCategory
	tableEntity
	numTables
)

var tableNames = [numTables]string{"detector", "title", "org", "org_detector", "technique", "category", "entity"}

// tableDescriptions name a table for a person (the triage card's "why").
var tableDescriptions = [numTables]string{
	"how the incident's detectors were graded before",
	"how the incident's alert titles were graded before",
	"the organisation's own history",
	"how this organisation graded these detectors before",
	"how incidents with these MITRE techniques were graded before",
	"how incidents of these categories were graded before",
	"how incidents naming the same devices, accounts, addresses or files were graded before",
}

// GradeCounts counts incidents by grade, in guide.Grades order.
type GradeCounts [NumClasses]int32

func (c GradeCounts) total() int32 { return c[0] + c[1] + c[2] }

func (c GradeCounts) minus(o GradeCounts) GradeCounts {
	return GradeCounts{c[0] - o[0], c[1] - o[1], c[2] - o[2]}
}

// Encoder holds the target statistics of the training incidents: per table, per value (hashed to 64
// bits), the incidents having that value counted by grade. An encoding is the Bayesian-smoothed share of
// each grade: (n_g + m·prior_g) / (n + m), where the prior is the global grade shares, except for
// (organisation, detector) pairs whose prior is what the detector's and the organisation's own
// encodings say together (their product over the global prior, normalised).
type Encoder struct {
	// Prior is the share of each grade among the training incidents.
	Prior [NumClasses]float64 `json:"prior"`
	// Smoothing is m, the weight of the prior in incidents.
	Smoothing float64 `json:"smoothing"`
	// Tables are the counts, indexed like tableNames.
	Tables [numTables]map[uint64]GradeCounts `json:"tables"`
}

// counter gives the grade counts of a value of a table: the whole training set's, or out of fold.
type counter func(table int, key uint64) GradeCounts

func (e *Encoder) counts(table int, key uint64) GradeCounts { return e.Tables[table][key] }

// newTables returns empty tables.
func newTables() [numTables]map[uint64]GradeCounts {
	var t [numTables]map[uint64]GradeCounts
	for i := range t {
		t[i] = map[uint64]GradeCounts{}
	}
	return t
}

// addIncident counts the incident's distinct values once each under its grade.
func addIncident(t *[numTables]map[uint64]GradeCounts, inc *guide.Incident, class int) {
	var buf []keyWeight
	for table := range numTables {
		buf = incidentKeys(inc, table, buf[:0])
		for _, kw := range buf {
			c := t[table][kw.key]
			c[class]++
			t[table][kw.key] = c
		}
	}
}

// keyWeight is one value of an incident in a table, weighted by the rows carrying it.
type keyWeight struct {
	key    uint64
	weight float64
}

// incidentKeys appends the incident's values for a table. Values of a Count list are distinct.
func incidentKeys(inc *guide.Incident, table int, dst []keyWeight) []keyWeight {
	switch table {
	case tableDetector:
		for _, c := range inc.Detectors {
			dst = append(dst, keyWeight{uint64(c.Value), float64(c.N)})
		}
	case tableTitle:
		for _, c := range inc.AlertTitles {
			dst = append(dst, keyWeight{uint64(c.Value), float64(c.N)})
		}
	case tableOrg:
		dst = append(dst, keyWeight{uint64(inc.Key.OrgID), 1})
	case tableOrgDetector:
		for _, c := range inc.Detectors {
			dst = append(dst, keyWeight{pairKey(inc.Key.OrgID, c.Value), float64(c.N)})
		}
	case tableTechnique:
		for _, c := range inc.Techniques {
			if c.Value != "" {
				dst = append(dst, keyWeight{hashString(c.Value), float64(c.N)})
			}
		}
	case tableCategory:
		for _, c := range inc.Categories {
			if c.Value != "" {
				dst = append(dst, keyWeight{hashString(c.Value), float64(c.N)})
			}
		}
	case tableEntity:
		for _, k := range inc.Entities {
			dst = append(dst, keyWeight{k, 1})
		}
	}
	return dst
}

// pairKey mixes an organisation and a detector into one 64-bit key (splitmix64 finaliser).
func pairKey(org, detector int64) uint64 {
	z := uint64(org)*0x9E3779B97F4A7C15 ^ uint64(detector)
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// hashString is FNV-1a 64 of s (as hash/fnv's New64a computes it, without allocating).
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Features turns an incident into the dense vector the trees read. It never reads the grade, the
// incident ID or the actions of the incident it encodes: the grades of other (training) incidents reach
// the vector only through the Encoder's target statistics.
type Features struct {
	Version string `json:"version"`
	// Names name the vector's entries, in order.
	Names []string `json:"names"`
	// Vocabularies: the frequent values of the training incidents, each an entry of the vector (the
	// share of the incident's rows carrying it).
	Categories      []string `json:"categories"`
	EntityTypes     []string `json:"entityTypes"`
	EvidenceRoles   []string `json:"evidenceRoles"`
	SuspicionLevels []string `json:"suspicionLevels"`
	LastVerdicts    []string `json:"lastVerdicts"`
	Techniques      []string `json:"techniques"`
	// HomeCountries are the organisations' most common CountryCode in the training incidents (not
	// GUIDE's "not applicable"): evidence from elsewhere is abroad.
	HomeCountries map[int64]int64 `json:"homeCountries"`
	// CommonEntities are the entity identifiers (guide.EntityKey) that too many training incidents share
	// to say anything of one: GUIDE's "not applicable" values, and the like. Sorted; the entity table
	// does not hold them and the vector skips them.
	CommonEntities []uint64 `json:"commonEntities"`
	Encoder        Encoder  `json:"encoder"`
}

// commonEntityShare: an identifier shared by this share of the training incidents (and by at least
// minCommonEntity of them) is common. GUIDE's "not applicable" values are in nearly every incident (any
// row of another entity type carries them); a real entity in half of all incidents says little of one.
const (
	commonEntityShare = 0.5
	minCommonEntity   = 20
)

// isCommonEntity reports whether key is one of f.CommonEntities.
func (f *Features) isCommonEntity(key uint64) bool {
	_, found := slices.BinarySearch(f.CommonEntities, key)
	return found
}

// minEntitySupport is the fewest training incidents an identifier must be named by to stay in the
// entity table: most identifiers are named once, and one grade says little of the next incident (its
// smoothed encoding is five-sixths the prior) while the table, which a model carries, would be several
// times larger.
const minEntitySupport = 2

// dropCommonEntities moves the identifiers that at least the common share of n training incidents
// name out of the entity table into CommonEntities, and drops those named by fewer than
// minEntitySupport.
func (f *Features) dropCommonEntities(n float64) {
	limit := int32(math.Max(commonEntityShare*n, minCommonEntity))
	table := f.Encoder.Tables[tableEntity]
	f.CommonEntities = f.CommonEntities[:0]
	for k, c := range table {
		switch t := c.total(); {
		case t >= limit:
			f.CommonEntities = append(f.CommonEntities, k)
		case t < minEntitySupport:
			delete(table, k)
		}
	}
	slices.Sort(f.CommonEntities)
	for _, k := range f.CommonEntities {
		delete(table, k)
	}
}

// CountryNotApplicable is GUIDE's CountryCode for evidence without a country.
const CountryNotApplicable = 242

// FeatureOptions configure FitFeatures. The zero value uses the defaults.
type FeatureOptions struct {
	// Smoothing is the prior's weight in target encodings, in incidents (default 5).
	Smoothing float64
	// MaxCategories, MaxEntityTypes, MaxTechniques cap the vocabularies (defaults 40, 40, 48).
	MaxCategories, MaxEntityTypes, MaxTechniques int
}

func (o FeatureOptions) withDefaults() FeatureOptions {
	if o.Smoothing <= 0 {
		o.Smoothing = 5
	}
	if o.MaxCategories <= 0 {
		o.MaxCategories = 40
	}
	if o.MaxEntityTypes <= 0 {
		o.MaxEntityTypes = 40
	}
	if o.MaxTechniques <= 0 {
		o.MaxTechniques = 48
	}
	return o
}

// FitFeatures learns the vocabularies and the target statistics from the training incidents (those
// with a valid grade count towards the statistics).
func FitFeatures(train []*guide.Incident, opts FeatureOptions) *Features {
	opts = opts.withDefaults()
	f := &Features{Version: FeaturesVersion}
	f.Categories = vocabulary(train, func(inc *guide.Incident) []guide.Count[string] { return inc.Categories }, opts.MaxCategories)
	f.EntityTypes = vocabulary(train, func(inc *guide.Incident) []guide.Count[string] { return inc.EntityTypes }, opts.MaxEntityTypes)
	f.EvidenceRoles = vocabulary(train, func(inc *guide.Incident) []guide.Count[string] { return inc.EvidenceRoles }, 8)
	f.SuspicionLevels = vocabulary(train, func(inc *guide.Incident) []guide.Count[string] { return inc.SuspicionLevel }, 8)
	f.LastVerdicts = vocabulary(train, func(inc *guide.Incident) []guide.Count[string] { return inc.LastVerdicts }, 8)
	f.Techniques = vocabulary(train, func(inc *guide.Incident) []guide.Count[string] { return inc.Techniques }, opts.MaxTechniques)
	f.HomeCountries = homeCountries(train)
	f.Encoder = Encoder{Smoothing: opts.Smoothing, Tables: newTables()}
	var n [NumClasses]float64
	for _, inc := range train {
		c := GradeIndex(inc.Grade)
		if c < 0 {
			continue
		}
		n[c]++
		addIncident(&f.Encoder.Tables, inc, c)
	}
	total := n[0] + n[1] + n[2]
	f.dropCommonEntities(total)
	for c := range n {
		// An add-one prior keeps every share positive even for a one-class training set.
		f.Encoder.Prior[c] = (n[c] + 1) / (total + NumClasses)
	}
	f.Names = f.names()
	return f
}

// homeCountries is each organisation's most common country over its incidents' rows (ties: the
// lowest code).
func homeCountries(incs []*guide.Incident) map[int64]int64 {
	rows := map[[2]int64]int64{}
	for _, inc := range incs {
		for _, c := range inc.Countries {
			if c.Value != CountryNotApplicable {
				rows[[2]int64{inc.Key.OrgID, c.Value}] += int64(c.N)
			}
		}
	}
	best := map[int64][2]int64{} // org -> (country, rows)
	for k, n := range rows {
		b, ok := best[k[0]]
		if !ok || n > b[1] || (n == b[1] && k[1] < b[0]) {
			best[k[0]] = [2]int64{k[1], n}
		}
	}
	home := make(map[int64]int64, len(best))
	for org, b := range best {
		home[org] = b[0]
	}
	return home
}

// abroad is the incident's rows with a country and those with one other than its organisation's home
// (for an organisation not seen in training, the incident's own most common country stands in).
func (f *Features) abroad(inc *guide.Incident, newOrg bool) (withCountry, foreign int32, distinct int) {
	home, ok := f.HomeCountries[inc.Key.OrgID]
	if newOrg {
		home, ok = 0, false
	}
	var top int32
	for _, c := range inc.Countries {
		if c.Value == CountryNotApplicable {
			continue
		}
		distinct++
		withCountry += c.N
		if !ok && c.N > top {
			home, top = c.Value, c.N
		}
	}
	for _, c := range inc.Countries {
		if c.Value != CountryNotApplicable && c.Value != home {
			foreign += c.N
		}
	}
	return withCountry, foreign, distinct
}

// vocabulary is the values of a Count list present in the most incidents, most frequent first (ties
// by value), at most max, never the empty string.
func vocabulary(incs []*guide.Incident, list func(*guide.Incident) []guide.Count[string], max int) []string {
	seen := map[string]int{}
	for _, inc := range incs {
		for _, c := range list(inc) {
			if c.Value != "" {
				seen[c.Value]++
			}
		}
	}
	vals := make([]string, 0, len(seen))
	for v := range seen {
		vals = append(vals, v)
	}
	slices.SortFunc(vals, func(a, b string) int {
		if c := cmp.Compare(seen[b], seen[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if len(vals) > max {
		vals = vals[:max]
	}
	slices.Sort(vals)
	return vals
}

// Shape features, in order: the first entries of the vector.
var shapeNames = []string{
	"log_rows", "log_alerts", "log_rows_per_alert", "log_duration_s",
	"n_detectors", "n_titles", "n_categories", "n_techniques", "n_entity_types",
	"n_threat_families", "n_roles", "n_os_families", "n_countries",
	"share_threat_family", "share_roles", "share_no_technique", "share_with_country", "share_abroad",
}

// Statistics of a target-encoded table per grade, then the support entries.
var encStats = []string{"mean", "max", "min"}

func (f *Features) names() []string {
	names := slices.Clone(shapeNames)
	add := func(prefix string, vocab []string, other bool) {
		for _, v := range vocab {
			names = append(names, prefix+v)
		}
		if other {
			names = append(names, prefix+"(other)")
		}
	}
	add("category=", f.Categories, true)
	add("entity=", f.EntityTypes, true)
	add("role=", f.EvidenceRoles, false)
	add("suspicion=", f.SuspicionLevels, false)
	names = append(names, "suspicion=(none)")
	add("verdict=", f.LastVerdicts, false)
	names = append(names, "verdict=(none)")
	add("technique=", f.Techniques, false)
	for t := range numTables {
		for _, g := range guide.Grades {
			if t == tableOrg {
				names = append(names, "te_org_"+string(g))
				continue
			}
			for _, s := range encStats {
				names = append(names, "te_"+tableNames[t]+"_"+string(g)+"_"+s)
			}
		}
		names = append(names, "te_"+tableNames[t]+"_log_support")
		if t != tableOrg {
			names = append(names, "te_"+tableNames[t]+"_log_min_support", "te_"+tableNames[t]+"_unseen_share")
		}
	}
	return names
}

// Len is the length of the vectors.
func (f *Features) Len() int { return len(f.Names) }

// Vector is the incident's feature vector with the target statistics of the whole training set (the
// encoding for any incident that is not a training incident: validation, test, live). dst is reused
// when large enough.
func (f *Features) Vector(inc *guide.Incident, dst []float32) []float32 {
	return f.vector(inc, f.Encoder.counts, false, dst)
}

// OOFOptions configure the out-of-fold encodings of the training incidents.
type OOFOptions struct {
	// Folds is the number of folds (default 5); Seed draws them.
	Folds int
	Seed  int64
	// ByOrg draws the folds by organisation: an incident's encodings then never see its own
	// organisation, as for an organisation the model has not met (for a model evaluated on unseen
	// organisations).
	ByOrg bool
	// NewOrgShare is the share of incidents (drawn from their key) encoded as if their organisation were
	// new: no history of it (organisation, organisation-detector pairs, home country). A model trained
	// by incident then also knows what to do for a tenant without history.
	NewOrgShare float64
}

// OutOfFold calls fn with the feature vector of every training incident (the same slice FitFeatures
// was given, in order) whose target encodings come from the other folds only: an incident's own grade
// never reaches its own vector. The vector passed to fn is reused between calls.
func (f *Features) OutOfFold(train []*guide.Incident, opts OOFOptions, fn func(i int, x []float32)) {
	f.OutOfFoldSubset(train, nil, opts, fn)
}

// OutOfFoldSubset is OutOfFold for the incidents at the given indexes of train only (all when nil); the
// folds' statistics still come from the whole training set.
func (f *Features) OutOfFoldSubset(train []*guide.Incident, subset []int, opts OOFOptions, fn func(i int, x []float32)) {
	folds := opts.Folds
	if folds < 2 {
		folds = 5
	}
	folds = min(folds, 255)
	assign := make([]uint8, len(train))
	foldTables := make([][numTables]map[uint64]GradeCounts, folds)
	for k := range foldTables {
		foldTables[k] = newTables()
	}
	for i, inc := range train {
		assign[i] = uint8(foldOf(inc.Key, folds, opts.ByOrg, opts.Seed))
		if c := GradeIndex(inc.Grade); c >= 0 {
			addIncident(&foldTables[assign[i]], inc, c)
		}
	}
	var x []float32
	visit := func(i int) {
		own := &foldTables[assign[i]]
		newOrg := opts.NewOrgShare > 0 && float64(pairKey(train[i].Key.OrgID^0x0e11, train[i].Key.IncidentID^opts.Seed)>>11)/(1<<53) < opts.NewOrgShare
		oof := func(table int, key uint64) GradeCounts {
			if newOrg && (table == tableOrg || table == tableOrgDetector) {
				return GradeCounts{}
			}
			all, ok := f.Encoder.Tables[table][key]
			if !ok {
				// Dropped from the table (a rare identifier): unseen, as for any incident.
				return GradeCounts{}
			}
			return all.minus(own[table][key])
		}
		x = f.vector(train[i], oof, newOrg, x)
		fn(i, x)
	}
	if subset == nil {
		for i := range train {
			visit(i)
		}
		return
	}
	for _, i := range subset {
		visit(i)
	}
}

// foldOf draws the fold of an incident from its key, or its organisation alone.
func foldOf(k guide.Key, folds int, byOrg bool, seed int64) int {
	id := k.IncidentID
	if byOrg {
		id = 0
	}
	h := pairKey(k.OrgID^seed, id^(seed*31+7))
	return int(h % uint64(folds))
}

// vector encodes inc with the grade counts of counts; newOrg hides its organisation's home country.
func (f *Features) vector(inc *guide.Incident, counts counter, newOrg bool, dst []float32) []float32 {
	n := f.Len()
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	x := dst[:n]
	clear(x)
	j := 0
	put := func(v float64) {
		x[j] = float32(v)
		j++
	}
	rows := math.Max(float64(inc.Rows), 1)
	alerts := math.Max(float64(inc.Alerts), 1)
	dur := 0.0
	if !inc.First.IsZero() && inc.Last.After(inc.First) {
		dur = inc.Last.Sub(inc.First).Seconds()
	}
	put(math.Log1p(float64(inc.Rows)))
	put(math.Log1p(float64(inc.Alerts)))
	put(math.Log(rows / alerts))
	put(math.Log1p(dur))
	put(float64(len(inc.Detectors)))
	put(float64(len(inc.AlertTitles)))
	put(float64(nonEmpty(inc.Categories)))
	put(float64(nonEmpty(inc.Techniques)))
	put(float64(nonEmpty(inc.EntityTypes)))
	put(float64(nonEmpty(inc.ThreatFamilies)))
	put(float64(nonEmpty(inc.Roles)))
	put(float64(len(inc.OSFamilies)))
	withCountry, foreign, countries := f.abroad(inc, newOrg)
	put(float64(countries))
	put(math.Min(float64(rowsWith(inc.ThreatFamilies))/rows, 1))
	put(math.Min(float64(rowsWith(inc.Roles))/rows, 1))
	put(math.Max(0, 1-float64(rowsWith(inc.Techniques))/rows))
	put(math.Min(float64(withCountry)/rows, 1))
	put(math.Min(float64(foreign)/rows, 1))

	shares := func(vocab []string, list []guide.Count[string], other, none bool) {
		base := j
		var known, all int32
		for _, c := range list {
			if c.Value == "" {
				continue
			}
			all += c.N
			if k, ok := slices.BinarySearch(vocab, c.Value); ok {
				x[base+k] = float32(math.Min(float64(c.N)/rows, 1))
				known += c.N
			}
		}
		j += len(vocab)
		if other {
			put(math.Min(float64(all-known)/rows, 1))
		}
		if none {
			put(math.Max(0, 1-float64(all)/rows))
		}
	}
	shares(f.Categories, inc.Categories, true, false)
	shares(f.EntityTypes, inc.EntityTypes, true, false)
	shares(f.EvidenceRoles, inc.EvidenceRoles, false, false)
	shares(f.SuspicionLevels, inc.SuspicionLevel, false, true)
	shares(f.LastVerdicts, inc.LastVerdicts, false, true)
	shares(f.Techniques, inc.Techniques, false, false)

	e := &f.Encoder
	var keyBuf [guide.MaxEntities]keyWeight
	keys := keyBuf[:0]
	// The detectors' encodings, in inc.Detectors order: the priors of the organisation-detector pairs,
	// which come in the same order.
	var detBuf [16][NumClasses]float64
	detEnc := detBuf[:0]
	orgEnc := e.smooth(counts(tableOrg, uint64(inc.Key.OrgID)), e.Prior)
	for t := range numTables {
		keys = incidentKeys(inc, t, keys[:0])
		if t == tableEntity {
			keys = slices.DeleteFunc(keys, func(kw keyWeight) bool { return f.isCommonEntity(kw.key) })
		}
		var mean, mx, mn [NumClasses]float64
		for c := range mn {
			mn[c] = math.Inf(1)
			mx[c] = math.Inf(-1)
		}
		var wsum, support, minSupport, unseen float64
		minSupport = math.Inf(1)
		for ki, kw := range keys {
			cnt := counts(t, kw.key)
			prior := e.Prior
			if t == tableOrgDetector {
				// Smooth an organisation's view of a detector toward what the detector's and the
				// organisation's histories say together (naive Bayes: their product over the prior).
				prior = e.combine(detEnc[ki], orgEnc)
			}
			enc := e.smooth(cnt, prior)
			if t == tableDetector {
				detEnc = append(detEnc, enc)
			}
			tot := float64(cnt.total())
			for c := range enc {
				mean[c] += kw.weight * enc[c]
				mx[c] = math.Max(mx[c], enc[c])
				mn[c] = math.Min(mn[c], enc[c])
			}
			wsum += kw.weight
			support += kw.weight * tot
			minSupport = math.Min(minSupport, tot)
			if tot == 0 {
				unseen += kw.weight
			}
		}
		if wsum == 0 {
			// No value in this table: the prior, no support.
			mean, mx, mn = e.Prior, e.Prior, e.Prior
			wsum, minSupport, unseen = 1, 0, 1
		} else {
			for c := range mean {
				mean[c] /= wsum
			}
		}
		for c := range NumClasses {
			if t == tableOrg {
				put(mean[c])
				continue
			}
			put(mean[c])
			put(mx[c])
			put(mn[c])
		}
		put(math.Log1p(support / wsum))
		if t != tableOrg {
			put(math.Log1p(minSupport))
			put(unseen / wsum)
		}
	}
	if j != n {
		panic("learn: feature vector layout is inconsistent")
	}
	return x
}

// combine is the grade shares two independent views a and b give together: a·b/prior, normalised.
func (e *Encoder) combine(a, b [NumClasses]float64) [NumClasses]float64 {
	var out [NumClasses]float64
	s := 0.0
	for k := range out {
		out[k] = a[k] * b[k] / e.Prior[k]
		s += out[k]
	}
	for k := range out {
		out[k] /= s
	}
	return out
}

// smooth is the Bayesian-smoothed grade shares of counts toward prior.
func (e *Encoder) smooth(c GradeCounts, prior [NumClasses]float64) [NumClasses]float64 {
	n := float64(c.total())
	var out [NumClasses]float64
	for k := range out {
		out[k] = (float64(c[k]) + e.Smoothing*prior[k]) / (n + e.Smoothing)
	}
	return out
}

func nonEmpty(list []guide.Count[string]) int {
	n := 0
	for _, c := range list {
		if c.Value != "" {
			n++
		}
	}
	return n
}

func rowsWith(list []guide.Count[string]) int32 {
	var n int32
	for _, c := range list {
		if c.Value != "" {
			n += c.N
		}
	}
	return n
}

// TargetEncoded reports whether entry i of the vector is a target encoding (reads other incidents'
// grades) rather than a function of the incident alone.
func (f *Features) TargetEncoded(i int) bool { return strings.HasPrefix(f.Names[i], "te_") }
