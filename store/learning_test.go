package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/store"
)

func historical(org, id int64, grade guide.Grade, detector int64) guide.Incident {
	t0 := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	return guide.Incident{
		Key: guide.Key{OrgID: org, IncidentID: id}, Grade: grade, Rows: 3, Alerts: 2, First: t0, Last: t0.Add(time.Hour),
		Detectors:   []guide.Count[int64]{{Value: detector, N: 2}},
		Categories:  []guide.Count[string]{{Value: "InitialAccess", N: 3}},
		EntityTypes: []guide.Count[string]{{Value: "User", N: 1}, {Value: "Ip", N: 2}},
		Actions:     []string{"disableuser"},
	}
}

func TestHistoricalIncidentsAndModels(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	incs := []guide.Incident{historical(7, 1, guide.GradeTruePositive, 11), historical(7, 2, guide.GradeFalsePositive, 12), historical(8, 1, guide.GradeBenignPositive, 11)}
	n, err := s.UpsertHistorical(ctx, store.SourceGUIDE, incs)
	if err != nil || n != 3 {
		t.Fatalf("first import: %d, %v", n, err)
	}
	// The same data again writes nothing; a changed incident is replaced.
	if n, err := s.UpsertHistorical(ctx, store.SourceGUIDE, incs); err != nil || n != 0 {
		t.Fatalf("second import wrote %d rows (%v), want 0", n, err)
	}
	incs[1].Grade = guide.GradeTruePositive
	if n, err := s.UpsertHistorical(ctx, store.SourceGUIDE, incs); err != nil || n != 1 {
		t.Fatalf("changed import wrote %d rows (%v), want 1", n, err)
	}
	var got []guide.Incident
	if err := s.EachHistorical(ctx, "", func(h store.HistoricalIncident) error {
		if h.Source != store.SourceGUIDE {
			t.Errorf("source %q", h.Source)
		}
		got = append(got, h.Incident)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d incidents read back", len(got))
	}
	want, _ := json.Marshal(incs[1])
	back, _ := json.Marshal(got[1])
	if string(want) != string(back) {
		t.Errorf("round trip:\n got %s\nwant %s", back, want)
	}
	counts, err := s.CountHistorical(ctx)
	if err != nil || counts[store.SourceGUIDE] != 3 {
		t.Errorf("counts %v, %v", counts, err)
	}

	if _, err := s.FinishedImport(ctx, "fp1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown import: %v", err)
	}
	if err := s.RecordImport(ctx, store.GuideImport{Fingerprint: "fp1", Path: "GUIDE_Train.csv", Rows: 10, Malformed: 1, Incidents: 3}); err != nil {
		t.Fatal(err)
	}
	if g, err := s.FinishedImport(ctx, "fp1"); err != nil || g.Rows != 10 || g.Malformed != 1 {
		t.Fatalf("import %+v, %v", g, err)
	}

	if _, err := s.LatestModel(ctx, "triage"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no model yet: %v", err)
	}
	for _, v := range []string{"triage-1", "triage-2"} {
		if err := s.SaveModel(ctx, store.Model{Kind: "triage", Version: v, Body: []byte(v), Metrics: json.RawMessage(`{"macro_f1":0.8}`)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.SaveModel(ctx, store.Model{Kind: "triage", Version: "triage-1", Body: []byte("x")}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("same version again: %v", err)
	}
	if m, err := s.LatestModel(ctx, "triage"); err != nil || m.Version != "triage-2" || string(m.Body) != "triage-2" {
		t.Errorf("latest %+v, %v", m.Version, err)
	}
	if m, err := s.GetModel(ctx, "triage", "triage-1"); err != nil || string(m.Body) != "triage-1" {
		t.Errorf("triage-1: %v", err)
	}
}

// A follower of a tenant's closed incidents asks for what changed since it last looked: new incidents
// and changed ones, oldest change first; an unchanged upsert is not a change, nor another tenant's.
func TestEachHistoricalChanged(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	changed := func(since time.Time) (ids []string, last time.Time) {
		t.Helper()
		err := s.EachHistoricalChanged(ctx, store.SourceGuided, "t1", since, func(h store.HistoricalIncident) error {
			ids = append(ids, h.IncidentID)
			last = h.ImportedAt
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids, last
	}
	for _, id := range []string{"1", "2"} {
		if err := s.UpsertGuided(ctx, "t1", id, historical(1, 1, guide.GradeTruePositive, 11)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UpsertGuided(ctx, "t2", "9", historical(1, 1, guide.GradeTruePositive, 11)); err != nil {
		t.Fatal(err)
	}
	ids, seen := changed(time.Time{})
	if len(ids) != 2 || ids[0] != "1" || ids[1] != "2" {
		t.Fatalf("changed since the beginning: %v", ids)
	}
	if ids, _ := changed(seen); len(ids) != 0 {
		t.Fatalf("changed since the newest seen: %v", ids)
	}
	// The same content again is no change; a new grade is.
	if err := s.UpsertGuided(ctx, "t1", "1", historical(1, 1, guide.GradeTruePositive, 11)); err != nil {
		t.Fatal(err)
	}
	if ids, _ := changed(seen); len(ids) != 0 {
		t.Fatalf("an unchanged upsert shows as changed: %v", ids)
	}
	if err := s.UpsertGuided(ctx, "t1", "1", historical(1, 1, guide.GradeFalsePositive, 11)); err != nil {
		t.Fatal(err)
	}
	if ids, _ := changed(seen); len(ids) != 1 || ids[0] != "1" {
		t.Fatalf("after a regrade: %v", ids)
	}
}
