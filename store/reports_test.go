package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/guided-response/guided/store"
)

func TestReportsLatestPerIncident(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	if _, err := s.GetReport(ctx, "tenant-a", "inc-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetReport before any = %v, want ErrNotFound", err)
	}
	first := store.Report{TenantID: "tenant-a", IncidentID: "inc-1", RunID: "run-1", Markdown: "# Run 1",
		JSON: json.RawMessage(`{"cards": 3}`), CreatedAt: at(10)}
	second := store.Report{TenantID: "tenant-a", IncidentID: "inc-1", RunID: "run-2", Markdown: "# Run 2",
		JSON: json.RawMessage(`{"cards": 5, "dryRun": true}`), CreatedAt: at(12)}
	other := store.Report{TenantID: "tenant-a", IncidentID: "inc-2", RunID: "run-9", Markdown: "# Other", CreatedAt: at(13)}
	for _, r := range []store.Report{second, first, other} {
		if err := s.SaveReport(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Saving run 1 again replaces its content and keeps its time: run 2 stays the latest.
	first.Markdown = "# Run 1, regenerated"
	first.CreatedAt = at(14)
	if err := s.SaveReport(ctx, first); err != nil {
		t.Fatal(err)
	}
	countRows(t, db, "reports", 3)

	got, err := s.GetReport(ctx, "tenant-a", "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.RunID != "run-2" || got.Markdown != "# Run 2" || !got.CreatedAt.Equal(at(12)) {
		t.Errorf("GetReport = %+v, want run-2", got)
	}
	checkJSON(t, got.JSON, `{"dryRun":true,"cards":5}`)
	var md string
	if err := db.Get(&md, `SELECT markdown FROM reports WHERE run_id = 'run-1'`); err != nil || md != "# Run 1, regenerated" {
		t.Errorf("run-1 markdown = %q, %v", md, err)
	}
	if got, err := s.GetReport(ctx, "tenant-a", "inc-2"); err != nil || got.RunID != "run-9" {
		t.Errorf("GetReport(inc-2) = %+v, %v", got, err)
	} else {
		checkJSON(t, got.JSON, `{}`)
	}
	if err := s.SaveReport(ctx, store.Report{TenantID: "tenant-a", IncidentID: "inc-1"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SaveReport without a run = %v, want ErrInvalid", err)
	}
}
