package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/store"
)

func TestOutcomesUpsert(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	if _, err := s.GetOutcome(ctx, "tenant-a", "inc-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetOutcome before any = %v, want ErrNotFound", err)
	}
	// Classified by the model, not yet closed.
	o := store.Outcome{TenantID: "tenant-a", IncidentID: "inc-1",
		Classification: incident.ClassificationTruePositive, Determination: incident.DeterminationMalware,
		ClassifiedBy: "model:triage-v3", ClassifiedAt: at(10),
		AppliedActions: []card.Action{card.ActionDeviceIsolate, card.ActionFileStopAndQuarantine},
		Features:       json.RawMessage(`{"alertCount": 3, "families": ["LockBit"]}`), ModelVersion: "triage-v3"}
	if err := s.RecordOutcome(ctx, o); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetOutcome(ctx, "tenant-a", "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, got.Features, string(o.Features))
	got.Features, o.Features = nil, nil
	if !reflect.DeepEqual(got, o) {
		t.Errorf("GetOutcome =\n%+v\nwant\n%+v", got, o)
	}

	// The analyst reclassifies and closes it: the outcome is replaced, still one row.
	o.Classification, o.Determination = incident.ClassificationFalsePositive, incident.DeterminationNotMalicious
	o.ClassifiedBy, o.ClassifiedAt, o.ClosedAt = "bob@contoso.com", at(11), at(12)
	o.AppliedActions, o.RejectedActions = nil, []card.Action{card.ActionDeviceIsolate}
	if err := s.RecordOutcome(ctx, o); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetOutcome(ctx, "tenant-a", "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, got.Features, `{}`)
	got.Features = nil
	if !reflect.DeepEqual(got, o) {
		t.Errorf("GetOutcome after update =\n%+v\nwant\n%+v", got, o)
	}
	countRows(t, db, "outcomes", 1)

	bad := o
	bad.Classification = "probablyFine"
	if err := s.RecordOutcome(ctx, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RecordOutcome with an unknown classification = %v, want ErrInvalid", err)
	}
	if _, err := s.GetOutcome(ctx, "tenant-b", "inc-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another tenant's outcome = %v, want ErrNotFound", err)
	}
}
