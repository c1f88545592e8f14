package guidegen

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// The generated world: detectors and organisations, built once from the seed, and the distributions
// incidents are drawn from.

const (
	// numDetectors is GUIDE's number of detectors.
	numDetectors = 9100
	// maxAlerts and maxRowsPerAlert bound an incident: 1-20 alerts of 1-30 evidence rows.
	maxAlerts       = 20
	maxRowsPerAlert = 30
	// rowsPerIncident is GUIDE's mean: 9.5M rows, about 1M incidents.
	rowsPerIncident = 9.5
	// DefaultLabelNoise is the share of incidents graded against their tendency (a uniformly drawn other
	// grade) unless Options.LabelNoise says otherwise.
	DefaultLabelNoise = 0.06
	// blankGrade is the share of rows whose IncidentGrade cell is empty.
	blankGrade = 0.002
	// numCountries: CountryCode values 0-241 (242 is "not applicable").
	numCountries = 242
)

// targetRowShares are GUIDE_Train's grade shares of rows (TP, BP, FP).
var targetRowShares = [3]float64{0.35, 0.43, 0.22}

// alertExponent: the number of alerts k of an incident is drawn with P(k) ~ k^-a, heavier-tailed for
// true positives (multi-stage attacks raise more alerts).
var alertExponent = [3]float64{tp: 1.9, bp: 2.4, fp: 2.6}

type detector struct {
	id         int64
	cat        int
	techniques string // the MitreTechniques cell, often empty
	titleBase  int64
	titles     int32
	main       int        // entity type of an alert's first evidence
	p          [3]float64 // grade tendency
	family     string     // threat family its malware evidence names, or ""
}

type org struct {
	id    int64
	scale float64 // 0-1: the size of its estate (pools of users, machines, ...)
	w     [3]float64
	pFav  float64
	favs  []int32
	// favCum is the cumulative weight of favs; override[i] is the grade the organisation gives favs[i]
	// whatever the detector's tendency, or -1.
	favCum   []float64
	override []int8
	country  int64
	state    int64
	city     int64
	next     int64 // the next IncidentId
}

type world struct {
	detectors   []detector
	detCum      []float64 // global popularity (Zipf)
	detFlatCum  []float64 // a flatter Zipf: where organisations' favourites come from
	orgs        []org
	orgCum      []float64
	catCum      []float64
	entCum      [][]float64 // per category
	familyCum   []float64
	rolesCum    []float64
	containCum  []float64
	countryCum  []float64
	alertCum    [3][]float64
	rowsCum     []float64
	mult        [3]float64 // calibration of the grade draw
	rowsMean    float64    // expected rows per incident
	alertsMeans [3]float64
}

func cumulative(w []float64) []float64 {
	c := make([]float64, len(w))
	sum := 0.0
	for i, x := range w {
		sum += x
		c[i] = sum
	}
	for i := range c {
		c[i] /= sum
	}
	c[len(c)-1] = 1
	return c
}

func zipf(n int, s float64) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = math.Pow(float64(i+1), -s)
	}
	return w
}

// pick draws an index from a cumulative distribution.
func pick(r *rand.Rand, cum []float64) int {
	u := r.Float64()
	i, _ := slices.BinarySearch(cum, u)
	return min(i, len(cum)-1)
}

// pickHash draws an index from a cumulative distribution with a hash for randomness: the same inputs
// give the same draw.
func pickHash(cum []float64, h uint64) int {
	i, _ := slices.BinarySearch(cum, float64(h>>11)/(1<<53))
	return min(i, len(cum)-1)
}

func pick3(r *rand.Rand, p [3]float64) int {
	u := r.Float64() * (p[0] + p[1] + p[2])
	switch {
	case u < p[0]:
		return 0
	case u < p[0]+p[1]:
		return 1
	}
	return 2
}

func normalize(p [3]float64) [3]float64 {
	s := p[0] + p[1] + p[2]
	return [3]float64{p[0] / s, p[1] / s, p[2] / s}
}

func mean(cum []float64, first float64) float64 {
	m, prev := 0.0, 0.0
	for i, c := range cum {
		m += (c - prev) * (first + float64(i))
		prev = c
	}
	return m
}

func newWorld(r *rand.Rand, orgs int, labelNoise float64) *world {
	w := &world{}
	catW := make([]float64, len(categories))
	for i, c := range categories {
		catW[i] = c.weight
		ew := make([]float64, len(c.entities))
		for j, x := range c.entities {
			ew[j] = x.w
		}
		w.entCum = append(w.entCum, cumulative(ew))
	}
	w.catCum = cumulative(catW)
	w.familyCum = cumulative(zipf(len(threatFamilies), 1))
	w.rolesCum = cumulative(rolesWeight)
	w.containCum = cumulative(containUserWeight)
	w.countryCum = cumulative(zipf(numCountries, 1.3))

	// Detectors: rank 0 is the most frequent (GUIDE's anonymised IDs lean the same way).
	w.detectors = make([]detector, numDetectors)
	title := int64(0)
	for i := range w.detectors {
		d := &w.detectors[i]
		d.id = int64(i)
		d.cat = pick(r, w.catCum)
		c := &categories[d.cat]
		d.main = c.entities[pick(r, w.entCum[d.cat])].entity
		if r.Float64() < 0.5 {
			n := 1 + r.IntN(min(3, len(c.techniques)))
			var ts []string
			for len(ts) < n {
				t := c.techniques[r.IntN(len(c.techniques))]
				if !slices.Contains(ts, t) {
					ts = append(ts, t)
				}
			}
			d.techniques = strings.Join(ts, ";")
		}
		switch u := r.Float64(); {
		case u < 0.6:
			d.titles = 1
		case u < 0.9:
			d.titles = 2 + r.Int32N(2)
		default: // titles with variable parts: many anonymised titles for one detector
			d.titles = 10 + r.Int32N(90)
		}
		d.titleBase = title
		title += int64(d.titles)
		if r.Float64() < 0.35 { // decisive: nearly always one grade
			g := pick3(r, c.lean)
			top := 0.88 + 0.11*r.Float64()
			rest := c.lean
			rest[g] = 0
			rest = normalize(rest)
			for j := range d.p {
				d.p[j] = rest[j] * (1 - top)
			}
			d.p[g] = top
		} else { // mixed around its category's lean
			for j := range d.p {
				d.p[j] = c.lean[j] * math.Exp(0.9*r.NormFloat64())
			}
			d.p = normalize(d.p)
		}
		if malwareLike(c.name) && r.Float64() < 0.6 {
			d.family = threatFamilies[pick(r, w.familyCum)]
		}
	}
	w.detCum = cumulative(zipf(numDetectors, 1.1))
	w.detFlatCum = cumulative(zipf(numDetectors, 0.6))

	// Organisations: a few large, many small (Zipf), each with its own grading habits.
	sizes := zipf(orgs, 1.0)
	w.orgCum = cumulative(sizes)
	w.orgs = make([]org, orgs)
	for i := range w.orgs {
		o := &w.orgs[i]
		o.id = int64(i)
		o.scale = max(0.02, math.Sqrt(sizes[i]/sizes[0]))
		sigma := 0.5
		if r.Float64() < 0.1 { // opinionated: grades much of everything one way
			sigma = 1.2
		}
		for g := range o.w {
			o.w[g] = math.Exp(sigma * r.NormFloat64())
		}
		o.pFav = 0.25 + 0.35*r.Float64()
		nf := 3 + int(20*o.scale) + r.IntN(5)
		fw := make([]float64, 0, nf)
		for len(o.favs) < nf {
			d := int32(pick(r, w.detFlatCum))
			if slices.Contains(o.favs, d) {
				continue
			}
			o.favs = append(o.favs, d)
			fw = append(fw, 1/float64(len(o.favs)))
			ov := int8(-1)
			if r.Float64() < 0.5 {
				p := w.detectors[d].p
				for g := range p {
					p[g] *= o.w[g]
				}
				ov = int8(pick3(r, p))
			}
			o.override = append(o.override, ov)
		}
		o.favCum = cumulative(fw)
		o.country = int64(pick(r, w.countryCum))
		o.state = int64(r.IntN(int(valueRange[cState])))
		o.city = int64(r.IntN(int(valueRange[cCity])))
		o.next = int64(r.IntN(1000))
	}

	// Shapes: alerts per incident by grade, rows per alert chosen so that incidents average 9.5 rows.
	var latentRows [3]float64 // latent row shares before label noise
	for g := range latentRows {
		latentRows[g] = (targetRowShares[g] - labelNoise/2) / (1 - 1.5*labelNoise)
	}
	var shares [3]float64 // latent incident shares
	for g := range w.alertCum {
		w.alertCum[g] = cumulative(zipf(maxAlerts, alertExponent[g]))
		w.alertsMeans[g] = mean(w.alertCum[g], 1)
		shares[g] = latentRows[g] / w.alertsMeans[g]
	}
	shares = normalize(shares)
	alerts := shares[0]*w.alertsMeans[0] + shares[1]*w.alertsMeans[1] + shares[2]*w.alertsMeans[2]
	lo, hi := 0.0, 6.0 // bisect the exponent of P(r) ~ r^-beta
	for range 60 {
		beta := (lo + hi) / 2
		if mean(cumulative(zipf(maxRowsPerAlert, beta)), 1)*alerts > rowsPerIncident {
			lo = beta
		} else {
			hi = beta
		}
	}
	w.rowsCum = cumulative(zipf(maxRowsPerAlert, (lo+hi)/2))
	w.rowsMean = mean(w.rowsCum, 1) * alerts
	w.calibrate(r, shares)
	return w
}

// primary draws an incident's first detector: one of the organisation's favourites or a globally
// popular one. It returns the detector and the organisation's override grade for it (-1: none).
func (w *world) primary(r *rand.Rand, o *org) (int32, int) {
	if r.Float64() < o.pFav {
		i := pick(r, o.favCum)
		return o.favs[i], int(o.override[i])
	}
	return int32(pick(r, w.detCum)), -1
}

// gradeProbs is the grade distribution of an incident of organisation o first raised by detector d.
func (w *world) gradeProbs(o *org, d int32, override int) [3]float64 {
	return w.mix(w.pair(o, d, override))
}

// pairing is how an organisation grades a detector, before the calibration.
type pairing struct {
	override int        // the organisation's fixed grade for a favourite, or -1
	base     [3]float64 // the detector's tendency, the organisation's rates and the pair's own leaning
	settled  bool       // the organisation settled on one grade, drawn from the mix with settle
	settle   uint64
}

func (w *world) pair(o *org, d int32, override int) pairing {
	if override >= 0 {
		return pairing{override: override}
	}
	pr := pairing{override: -1, base: w.detectors[d].p}
	for g := range pr.base {
		pr.base[g] *= o.w[g] * math.Exp(pairSigma*gauss(hash(uint64(o.id), uint64(d), uint64(g), 11)))
	}
	pr.settled = hash(uint64(o.id), uint64(d), 12, 12)%100 < settledShare
	pr.settle = hash(uint64(o.id), uint64(d), 13, 13)
	return pr
}

func (w *world) mix(pr pairing) [3]float64 {
	if pr.override >= 0 {
		p := [3]float64{0.05, 0.05, 0.05}
		p[pr.override] = 0.9
		return p
	}
	p := pr.base
	for g := range p {
		p[g] *= w.mult[g]
	}
	p = normalize(p)
	if pr.settled {
		settled := [3]float64{(1 - settledP) / 2, (1 - settledP) / 2, (1 - settledP) / 2}
		settled[pick3Hash(p, pr.settle)] = settledP
		return settled
	}
	return p
}

// An organisation grades a detector in its own way: its analysts close the detector's incidents
// consistently, and differently from other organisations'. pairSigma is how far an (organisation,
// detector) pair strays from the detector's tendency (log scale); for settledShare percent of the pairs
// the organisation has settled on one grade (drawn from that mix), which it gives with settledP.
const (
	pairSigma    = 1.2
	settledShare = 60
	settledP     = 0.94
)

// pick3Hash draws a grade from a normalised mix with a hash for randomness.
func pick3Hash(p [3]float64, h uint64) int {
	switch u := float64(h>>11) / (1 << 53); {
	case u < p[0]:
		return 0
	case u < p[0]+p[1]:
		return 1
	}
	return 2
}

// gauss maps a hash to a roughly standard normal number (a sum of four uniforms).
func gauss(h uint64) float64 {
	s := 0.0
	for range 4 {
		s += float64(h&0xffff) / 0xffff
		h >>= 16
	}
	return (s - 2) * math.Sqrt(3)
}

// calibrate sets mult so that incidents' latent grades have the shares wanted, whatever the draws of
// detectors and organisations: a Monte Carlo sample of (organisation, detector), then a few fixed-point
// steps.
func (w *world) calibrate(r *rand.Rand, want [3]float64) {
	samples := make([]pairing, 60000)
	for i := range samples {
		o := &w.orgs[pick(r, w.orgCum)]
		d, ov := w.primary(r, o)
		samples[i] = w.pair(o, d, ov)
	}
	w.mult = [3]float64{1, 1, 1}
	for range 20 {
		var got [3]float64
		for _, s := range samples {
			p := w.mix(s)
			for g := range got {
				got[g] += p[g]
			}
		}
		got = normalize(got)
		if math.Abs(got[0]-want[0])+math.Abs(got[1]-want[1])+math.Abs(got[2]-want[2]) < 1e-4 {
			break
		}
		for g := range w.mult {
			w.mult[g] *= want[g] / got[g]
		}
	}
}
