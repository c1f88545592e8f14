package learn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/guided-response/guided/guide"
)

// synthOptions shape synthetic GUIDE-like incidents for the tests and benchmarks: organisations with
// their own mix of grades and their own noisy detectors, detectors leaning to a grade, evidence whose
// verdicts lean with the grade, and action labels on some true positives.
type synthOptions struct {
	Incidents, Orgs, Detectors int
	Seed                       uint64
}

var (
	synthCategories = []string{"InitialAccess", "Execution", "CommandAndControl", "Exfiltration", "SuspiciousActivity",
		"Impact", "CredentialAccess", "Discovery", "Malware", "Persistence", "DefenseEvasion", "LateralMovement",
		"Collection", "PrivilegeEscalation", "Ransomware"}
	synthEntities = []string{"Ip", "User", "MailMessage", "Machine", "File", "Url", "Mailbox", "CloudLogonRequest",
		"Process", "MailCluster", "CloudApplication", "OAuthApplication", "RegistryValue"}
)

type synthDetector struct {
	category   string
	titles     []int64
	techniques []string
	lean       [NumClasses]float64
	entities   []string
}

type synthOrg struct {
	mix   [NumClasses]float64
	noisy map[int]bool
}

func synthIncidents(o synthOptions) []guide.Incident {
	rng := rand.New(rand.NewPCG(o.Seed, 0xdecaf))
	dirichletLean := func(strength float64) [NumClasses]float64 {
		var v [NumClasses]float64
		top := rng.IntN(NumClasses)
		for k := range v {
			v[k] = 0.1 + rng.Float64()
		}
		v[top] += strength
		s := v[0] + v[1] + v[2]
		for k := range v {
			v[k] /= s
		}
		return v
	}
	dets := make([]synthDetector, o.Detectors)
	popularity := make([]float64, o.Detectors)
	title := int64(1000)
	for d := range dets {
		sd := synthDetector{category: synthCategories[rng.IntN(len(synthCategories))], lean: dirichletLean(1 + 3*rng.Float64())}
		for range 1 + rng.IntN(2) {
			title++
			sd.titles = append(sd.titles, title)
		}
		for range rng.IntN(3) {
			sd.techniques = append(sd.techniques, fmt.Sprintf("T1%03d", rng.IntN(60)))
		}
		for range 1 + rng.IntN(3) {
			sd.entities = append(sd.entities, synthEntities[rng.IntN(len(synthEntities))])
		}
		dets[d] = sd
		popularity[d] = 1 / math.Pow(float64(d+1), 0.9)
	}
	orgs := make([]synthOrg, o.Orgs)
	orgSize := make([]float64, o.Orgs)
	for i := range orgs {
		org := synthOrg{mix: dirichletLean(1 + 2*rng.Float64()), noisy: map[int]bool{}}
		for range 3 {
			org.noisy[rng.IntN(min(o.Detectors, 50))] = true
		}
		orgs[i] = org
		orgSize[i] = 1 / math.Pow(float64(i+1), 0.8)
	}
	pick := func(w []float64) int {
		s := 0.0
		for _, x := range w {
			s += x
		}
		r := rng.Float64() * s
		for i, x := range w {
			r -= x
			if r < 0 {
				return i
			}
		}
		return len(w) - 1
	}
	// Entities come from a stream of their own (the other draws stay what they were): each organisation's
	// machines and users, a few of them in most of its incidents, GUIDE's "not applicable" device on the
	// rows of other types, and the addresses of a campaign in some true positives.
	erng := rand.New(rand.NewPCG(o.Seed, 0xe17))
	orgEntity := func(col guide.EntityColumn, org int) uint64 {
		u := erng.Float64()
		return guide.EntityKey(col, int64(org*1000+int(40*u*u)))
	}
	base := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	out := make([]guide.Incident, o.Incidents)
	w := make([]float64, o.Detectors)
	for n := range out {
		oi := pick(orgSize)
		org := orgs[oi]
		d0 := pick(popularity)
		var pg [NumClasses]float64
		for k := range pg {
			pg[k] = org.mix[k] * dets[d0].lean[k] * dets[d0].lean[k]
			if org.noisy[d0] && k == 2 {
				pg[k] *= 6
			}
		}
		g := pick(pg[:])
		a := newAggregate()
		inc := guide.Incident{Key: guide.Key{OrgID: int64(oi + 1), IncidentID: int64(n + 1)}, Grade: guide.Grades[g]}
		alerts := 1 + rng.IntN(3)
		if rng.Float64() < 0.5 {
			alerts = 1
		}
		for al := range alerts {
			d := d0
			if al > 0 {
				for j := range w {
					w[j] = popularity[j] * dets[j].lean[g]
				}
				d = pick(w)
			}
			det := dets[d]
			t := det.titles[rng.IntN(len(det.titles))]
			for range 1 + rng.IntN(4) {
				inc.Rows++
				a.ints[0][int64(d+1)]++
				a.ints[1][t]++
				a.strs[0][det.category]++
				for _, tech := range det.techniques {
					a.strs[1][tech]++
				}
				ent := det.entities[rng.IntN(len(det.entities))]
				a.strs[2][ent]++
				if rng.Float64() < 0.4 {
					a.strs[3]["Impacted"]++
				} else {
					a.strs[3]["Related"]++
				}
				susp, verdict := synthVerdict(rng, g)
				a.strs[4][susp]++
				a.strs[5][verdict]++
				if ent == "Machine" {
					a.ints[2][int64(1+rng.IntN(4))]++
				}
				if ent == "Ip" {
					a.ints[3][int64(1+rng.IntN(20))]++
				}
				switch {
				case ent == "Machine":
					a.entities[orgEntity(guide.EntityDeviceID, oi)] = true
				case ent == "User":
					a.entities[orgEntity(guide.EntityAccountUpn, oi)] = true
				case ent == "Ip" && g == 0 && erng.Float64() < 0.3:
					a.entities[guide.EntityKey(guide.EntityIPAddress, int64(900_000+erng.IntN(30)))] = true
				case ent == "Ip":
					a.entities[orgEntity(guide.EntityIPAddress, oi)] = true
				default:
					a.entities[guide.EntityKey(guide.EntityDeviceID, 98799)] = true
				}
			}
		}
		inc.Alerts = int32(alerts)
		inc.First = base.Add(time.Duration(rng.IntN(30*24*3600)) * time.Second)
		inc.Last = inc.First.Add(time.Duration(rng.IntN(3600*(alerts))) * time.Second)
		inc.Detectors = sortedCounts(a.ints[0])
		inc.AlertTitles = sortedCounts(a.ints[1])
		inc.OSFamilies = sortedCounts(a.ints[2])
		inc.Countries = sortedCounts(a.ints[3])
		inc.Categories = sortedCounts(a.strs[0])
		inc.Techniques = sortedCounts(a.strs[1])
		inc.EntityTypes = sortedCounts(a.strs[2])
		inc.EvidenceRoles = sortedCounts(a.strs[3])
		inc.SuspicionLevel = sortedCounts(a.strs[4])
		inc.LastVerdicts = sortedCounts(a.strs[5])
		inc.Entities = sampleEntities(a.entities)
		if g == 0 && rng.Float64() < 0.2 {
			for _, e := range inc.EntityTypes {
				switch e.Value {
				case "Machine":
					inc.Actions = append(inc.Actions, "isolateresponse")
				case "User":
					inc.Actions = append(inc.Actions, "disableuser")
				case "File":
					inc.Actions = append(inc.Actions, "quarantinefile")
				}
			}
			if len(inc.Actions) == 0 {
				inc.Actions = []string{"forcepasswordresetremediation"}
			}
		}
		out[n] = inc
	}
	return out
}

func synthVerdict(rng *rand.Rand, g int) (suspicion, verdict string) {
	r := rng.Float64()
	switch g {
	case 0:
		switch {
		case r < 0.3:
			return "Incriminated", "Malicious"
		case r < 0.6:
			return "Suspicious", "Suspicious"
		}
	case 1:
		switch {
		case r < 0.15:
			return "Suspicious", "Suspicious"
		case r < 0.3:
			return "", "NoThreatsFound"
		}
	default:
		switch {
		case r < 0.3:
			return "", "NoThreatsFound"
		case r < 0.45:
			return "Suspicious", "Suspicious"
		case r < 0.5:
			return "Incriminated", "Malicious"
		}
	}
	return "", ""
}
