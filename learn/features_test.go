package learn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/guided-response/guided/guide"
)

func synthSplit(t testing.TB, n int, seed uint64) (train, test []*guide.Incident) {
	t.Helper()
	incs := Pointers(synthIncidents(synthOptions{Incidents: n, Orgs: 40, Detectors: 100, Seed: seed}))
	return Split(incs, SplitByIncident, 0.7, int64(seed))
}

func TestVectorNeverReadsGradeIDsOrActions(t *testing.T) {
	train, test := synthSplit(t, 2000, 1)
	f := FitFeatures(train, FeatureOptions{})
	for _, inc := range test[:50] {
		want := slices.Clone(f.Vector(inc, nil))
		changed := *inc
		changed.Grade = guide.Grades[(GradeIndex(inc.Grade)+1)%NumClasses]
		changed.Key.IncidentID = inc.Key.IncidentID*7919 + 13
		changed.Actions = []string{"isolateresponse", "disableuser"}
		if got := f.Vector(&changed, nil); !slices.Equal(got, want) {
			t.Fatalf("incident %v: the vector changed with its grade, incident ID or actions", inc.Key)
		}
	}
}

func TestShufflingOtherLabelsKeepsNonTargetFeatures(t *testing.T) {
	train, test := synthSplit(t, 2000, 2)
	before := FitFeatures(train, FeatureOptions{})

	// The same training incidents with their grades shuffled among them.
	shuffled := make([]*guide.Incident, len(train))
	grades := make([]guide.Grade, len(train))
	for i, inc := range train {
		grades[i] = inc.Grade
	}
	rng := rand.New(rand.NewPCG(7, 7))
	rng.Shuffle(len(grades), func(i, j int) { grades[i], grades[j] = grades[j], grades[i] })
	for i, inc := range train {
		c := *inc
		c.Grade = grades[i]
		shuffled[i] = &c
	}
	after := FitFeatures(shuffled, FeatureOptions{})
	if !slices.Equal(before.Names, after.Names) {
		t.Fatal("the feature layout depends on the training grades")
	}
	targetChanged := false
	for _, inc := range test[:100] {
		a, b := before.Vector(inc, nil), after.Vector(inc, nil)
		for i := range a {
			if before.TargetEncoded(i) {
				if a[i] != b[i] {
					targetChanged = true
				}
				continue
			}
			if a[i] != b[i] {
				t.Fatalf("incident %v: %s changed from %g to %g when other incidents' grades were shuffled", inc.Key, before.Names[i], a[i], b[i])
			}
		}
	}
	if !targetChanged {
		t.Error("no target encoding changed when the grades were shuffled: the encodings ignore the grades")
	}
}

// index is the position of a feature by name.
func index(t *testing.T, f *Features, name string) int {
	t.Helper()
	i := slices.Index(f.Names, name)
	if i < 0 {
		t.Fatalf("no feature %q", name)
	}
	return i
}

func TestOutOfFoldEncodingForTrainingIncidents(t *testing.T) {
	train, _ := synthSplit(t, 1500, 3)
	// A training incident whose detector, title and organisation no other incident has: out of fold its
	// encodings are the prior; in sample they would carry its own grade.
	lone := *train[0]
	lone.Key = guide.Key{OrgID: 999_999, IncidentID: 1}
	lone.Grade = guide.GradeFalsePositive
	lone.Detectors = []guide.Count[int64]{{Value: 888_888, N: lone.Rows}}
	lone.AlertTitles = []guide.Count[int64]{{Value: 777_777, N: lone.Rows}}
	train = append(train, &lone)
	f := FitFeatures(train, FeatureOptions{})
	prior := f.Encoder.Prior[2]
	names := []string{"te_detector_FalsePositive_mean", "te_title_FalsePositive_mean", "te_org_FalsePositive", "te_org_detector_FalsePositive_mean"}

	inSample := f.Vector(&lone, nil)
	for _, n := range names {
		if v := float64(inSample[index(t, f, n)]); v <= prior+0.05 {
			t.Fatalf("%s in sample is %.3f, prior %.3f: the test cannot tell out-of-fold from in-sample", n, v, prior)
		}
	}
	seen := false
	f.OutOfFold(train, OOFOptions{Folds: 5, Seed: 1}, func(i int, x []float32) {
		if train[i] != &lone {
			return
		}
		seen = true
		for _, n := range names {
			if v := float64(x[index(t, f, n)]); math.Abs(v-prior) > 1e-6 {
				t.Errorf("%s out of fold is %.4f, want the prior %.4f: the incident's own grade leaked", n, v, prior)
			}
		}
		if v := x[index(t, f, "te_detector_log_support")]; v != 0 {
			t.Errorf("detector support out of fold is %g, want 0", v)
		}
	})
	if !seen {
		t.Fatal("OutOfFold did not visit the incident")
	}

	// Every training incident's out-of-fold vector differs from its in-sample one only in target
	// encodings, and the training loop uses the out-of-fold ones (Train builds from OutOfFold).
	f.OutOfFold(train, OOFOptions{Folds: 5, Seed: 1}, func(i int, x []float32) {
		in := f.Vector(train[i], nil)
		for j := range x {
			if !f.TargetEncoded(j) && x[j] != in[j] {
				t.Fatalf("%s differs out of fold", f.Names[j])
			}
		}
	})
}

func TestOutOfFoldByOrgHidesTheOrganisation(t *testing.T) {
	train, _ := synthSplit(t, 1500, 4)
	f := FitFeatures(train, FeatureOptions{})
	org := index(t, f, "te_org_log_support")
	pair := index(t, f, "te_org_detector_log_support")
	f.OutOfFold(train, OOFOptions{Folds: 5, Seed: 1, ByOrg: true}, func(i int, x []float32) {
		if x[org] != 0 || x[pair] != 0 {
			t.Fatalf("incident %v: out of fold by organisation, its organisation's history is visible", train[i].Key)
		}
	})
	// As new organisations: about the share asked, and no history for them.
	hidden := 0
	f.OutOfFold(train, OOFOptions{Folds: 5, Seed: 1, NewOrgShare: 0.3}, func(i int, x []float32) {
		if x[org] == 0 && x[pair] == 0 {
			hidden++
		}
	})
	if share := float64(hidden) / float64(len(train)); share < 0.25 || share > 0.35 {
		t.Errorf("%.3f of the incidents encoded as new organisations, asked 0.3", share)
	}
}

func TestFeatureNamesAndValues(t *testing.T) {
	train, test := synthSplit(t, 1000, 5)
	f := FitFeatures(train, FeatureOptions{})
	if len(f.Names) != f.Len() || f.Len() < 60 {
		t.Fatalf("%d features", f.Len())
	}
	for _, n := range []string{"log_rows", "log_alerts", "n_detectors", "log_duration_s", "category=InitialAccess", "entity=User",
		"role=Impacted", "suspicion=Incriminated", "verdict=Malicious", "te_org_TruePositive", "te_title_BenignPositive_max"} {
		index(t, f, n)
	}
	for _, inc := range test {
		for i, v := range f.Vector(inc, nil) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s is %g", f.Names[i], v)
			}
			if strings.HasPrefix(f.Names[i], "te_") && strings.HasSuffix(f.Names[i], "_mean") && (v < 0 || v > 1) {
				t.Fatalf("%s is %g, not a share", f.Names[i], v)
			}
		}
	}
	// An empty incident is encoded too.
	if x := f.Vector(&guide.Incident{}, nil); len(x) != f.Len() {
		t.Fatal("empty incident")
	}
}

// Entities that earlier incidents named tell how those incidents were graded; an identifier that most
// incidents share (GUIDE's "not applicable") says nothing and is left out.
func TestEntityHistory(t *testing.T) {
	const notApplicable = 98799
	common := guide.EntityKey(guide.EntityDeviceID, notApplicable)
	bad := guide.EntityKey(guide.EntityIPAddress, 7)    // a campaign's address, in true positives
	scanner := guide.EntityKey(guide.EntityDeviceID, 8) // the organisation's scanner, expected activity
	var train []*guide.Incident
	for i := range 300 {
		inc := &guide.Incident{Key: guide.Key{OrgID: int64(i % 7), IncidentID: int64(i)}, Rows: 1, Alerts: 1}
		inc.Entities = []uint64{common}
		switch i % 3 {
		case 0:
			inc.Grade = guide.GradeTruePositive
			inc.Entities = append(inc.Entities, bad)
		case 1:
			inc.Grade = guide.GradeBenignPositive
			inc.Entities = append(inc.Entities, scanner)
		default:
			inc.Grade = guide.GradeFalsePositive
			inc.Entities = append(inc.Entities, guide.EntityKey(guide.EntityURL, int64(1000+i)))
		}
		slices.Sort(inc.Entities)
		train = append(train, inc)
	}
	f := FitFeatures(train, FeatureOptions{})
	if !slices.Equal(f.CommonEntities, []uint64{common}) {
		t.Fatalf("common entities %v, want the not-applicable value only", f.CommonEntities)
	}
	if _, ok := f.Encoder.Tables[tableEntity][common]; ok {
		t.Error("the common value is still in the entity table")
	}
	tpMax, bpMax := index(t, f, "te_entity_TruePositive_max"), index(t, f, "te_entity_BenignPositive_max")
	unseen := index(t, f, "te_entity_unseen_share")
	vec := func(keys ...uint64) []float32 {
		slices.Sort(keys)
		return f.Vector(&guide.Incident{Key: guide.Key{OrgID: 99, IncidentID: 1}, Rows: 1, Alerts: 1, Entities: keys}, nil)
	}
	withBad, withScanner := vec(common, bad), vec(common, scanner)
	if withBad[tpMax] < 0.9 || withScanner[bpMax] < 0.9 || withBad[bpMax] > 0.1 {
		t.Errorf("TP max %.2f with the campaign's address, BP max %.2f with the scanner, %.2f with the address",
			withBad[tpMax], withScanner[bpMax], withBad[bpMax])
	}
	if x := vec(common); x[unseen] != 1 || math.Abs(float64(x[tpMax])-f.Encoder.Prior[0]) > 1e-6 {
		t.Errorf("only the common value: unseen share %.2f, TP max %.3f (prior %.3f)", x[unseen], x[tpMax], f.Encoder.Prior[0])
	}
	if x := vec(common, guide.EntityKey(guide.EntityURL, 1)); x[unseen] != 1 {
		t.Errorf("a never-seen URL: unseen share %.2f", x[unseen])
	}
	// Out of fold, an incident's own grade never reaches its entity encoding: the FalsePositive URLs
	// each appear once, so their incidents see them as unseen.
	f.OutOfFold(train, OOFOptions{}, func(i int, x []float32) {
		if train[i].Grade == guide.GradeFalsePositive && x[unseen] != 1 {
			t.Fatalf("incident %d sees its own URL: unseen share %.2f", i, x[unseen])
		}
	})
}
