package api

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/internal/guidegen"
	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/learn"
	"github.com/guided-response/guided/store"
)

// A tenant's similar-incident index is built once, then follows the tenant: newly closed and regraded
// incidents are found without a rebuild, a regraded incident is answered once with its new grade, and a
// new model's index replaces the old one while the old one answers. Only the first request waits.
func TestSimilarIndexFollowsTheTenant(t *testing.T) {
	ctx := context.Background()
	st := store.New(pgtest.MigratedDB(t), hclog.NewNullLogger())

	var csv bytes.Buffer
	if _, err := guidegen.Generate(&csv, guidegen.Options{Rows: 6000, Orgs: 20, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	r, err := guide.NewReader(&csv, "gen.csv")
	if err != nil {
		t.Fatal(err)
	}
	agg := guide.NewAggregator()
	for row, err := r.Next(); err == nil; row, err = r.Next() {
		agg.Add(row)
	}
	incs := agg.Incidents()
	saveModel := func(version string) {
		t.Helper()
		m, err := learn.Train(learn.Pointers(incs), learn.TrainOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		if err := m.Save(&body); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveModel(ctx, store.Model{Kind: activities.ModelKindTriage, Version: version, Body: body.Bytes()}); err != nil {
			t.Fatal(err)
		}
	}
	saveModel(learn.ModelVersion + "-a")

	const tenant = "contoso"
	history := incs[:200]
	for i, inc := range history {
		if err := st.UpsertGuided(ctx, tenant, fmt.Sprint(i), inc); err != nil {
			t.Fatal(err)
		}
	}
	x := newSimilarIndexes(st, nil)
	x.models.Recheck = 0
	x.refresh = 0 // follow the store on every request

	ti, err := x.index(ctx, tenant)
	if err != nil || ti == nil {
		t.Fatalf("first index: %v, %v", ti, err)
	}
	if ti.count() != len(history) || ti.version != learn.ModelVersion+"-a" {
		t.Fatalf("first index holds %d incidents of model %s, want %d", ti.count(), ti.version, len(history))
	}
	hits, err := ti.search(&history[5], "5", 5)
	if err != nil || len(hits) != 5 {
		t.Fatalf("search: %v, %v", hits, err)
	}
	for i, h := range hits {
		if h.incidentID == "5" || (i > 0 && h.score > hits[i-1].score) {
			t.Fatalf("hits %+v: the incident itself, or not best first", hits)
		}
	}

	// eventually asks the index until cond holds: the follower runs in the background.
	eventually := func(what string, cond func(*tenantIndex) bool) *tenantIndex {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ti, err := x.index(ctx, tenant)
			if err != nil {
				t.Fatal(err)
			}
			if cond(ti) {
				return ti
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30 s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	top := func(ti *tenantIndex, inc *guide.Incident) similarHit {
		hits, err := ti.search(inc, "", 3)
		if err != nil || len(hits) == 0 {
			t.Fatalf("search: %v, %v", hits, err)
		}
		return hits[0]
	}

	// A newly closed incident, the twin of number 7.
	twin := history[7]
	twin.Key.IncidentID = 999_999
	if err := st.UpsertGuided(ctx, tenant, "new", twin); err != nil {
		t.Fatal(err)
	}
	ti = eventually("the new incident indexed", func(ti *tenantIndex) bool { return ti.count() == len(history)+1 })
	if hits, _ := ti.search(&history[7], "7", 1); len(hits) != 1 || hits[0].incidentID != "new" || hits[0].score < 0.999 {
		t.Errorf("nearest to 7 but itself: %+v, want the new twin", hits)
	}

	// Incident 12 is regraded: answered once, with its new grade.
	regraded := history[12]
	regraded.Grade = guide.GradeFalsePositive
	if history[12].Grade == guide.GradeFalsePositive {
		regraded.Grade = guide.GradeTruePositive
	}
	if err := st.UpsertGuided(ctx, tenant, "12", regraded); err != nil {
		t.Fatal(err)
	}
	ti = eventually("the regrade indexed", func(ti *tenantIndex) bool { return top(ti, &regraded).grade == regraded.Grade })
	hits, _ = ti.search(&regraded, "", ti.index.Len())
	seen := map[string]bool{}
	for _, h := range hits {
		if seen[h.incidentID] {
			t.Fatalf("incident %s answered twice", h.incidentID)
		}
		seen[h.incidentID] = true
	}
	if len(hits) != len(history)+1 {
		t.Errorf("%d answers of everything, want %d", len(hits), len(history)+1)
	}

	// A new model: its index is built in the background and replaces the old one.
	saveModel(learn.ModelVersion + "-b")
	ti = eventually("the new model's index", func(ti *tenantIndex) bool { return ti.version == learn.ModelVersion+"-b" })
	if ti.count() != len(history)+1 || top(ti, &regraded).incidentID != "12" {
		t.Errorf("new model's index: %d incidents", ti.count())
	}

	// Another tenant sees none of these.
	other, err := x.index(ctx, "fabrikam")
	if err != nil {
		t.Fatal(err)
	}
	if hits, err := other.search(&history[5], "", 5); err != nil || len(hits) != 0 {
		t.Errorf("another tenant's answers: %+v, %v", hits, err)
	}
}
