package store_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/store"
)

func TestRecordFeedbackIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	f := store.Feedback{
		FeedbackID: "fb-inc-1-card-7-bob", TenantID: "tenant-a", IncidentID: "inc-1", CardID: "card-7",
		Principal: "bob@contoso.com", Helpful: false, Reason: "wrong-entity", Comment: "isolating the DC? no",
		Action: card.ActionDeviceIsolate, Category: card.CategoryContainment, RuleID: "ransomware.isolate",
		CreatedAt: time.Date(2025, 3, 1, 10, 0, 0, 123456000, time.UTC),
	}
	created, err := s.RecordFeedback(ctx, f)
	if err != nil || !created {
		t.Fatalf("first RecordFeedback = %v, %v; want created", created, err)
	}
	// A retry, even with another time, records nothing.
	retry := f
	retry.CreatedAt = f.CreatedAt.Add(time.Minute)
	created, err = s.RecordFeedback(ctx, retry)
	if err != nil || created {
		t.Fatalf("retried RecordFeedback = %v, %v; want not created, no error", created, err)
	}
	countRows(t, db, "feedback", 1)

	// The same ID with other content is a conflict.
	other := f
	other.Helpful = true
	if _, err := s.RecordFeedback(ctx, other); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("RecordFeedback with a reused ID = %v, want ErrDuplicate", err)
	}
	countRows(t, db, "feedback", 1)

	// Callers choose their IDs: another tenant's equal ID is another tenant's feedback, recorded, and
	// the first tenant's record is neither touched nor named.
	foreign := store.Feedback{FeedbackID: f.FeedbackID, TenantID: "tenant-b", IncidentID: "inc-9", CardID: "card-1",
		Principal: "eve@fabrikam.com", Helpful: true}
	if created, err := s.RecordFeedback(ctx, foreign); err != nil || !created {
		t.Fatalf("another tenant's feedback with the same ID = %v, %v; want created", created, err)
	}
	countRows(t, db, "feedback", 2)
	if got, err := s.ListFeedback(ctx, "tenant-b", "inc-9"); err != nil || len(got) != 1 || got[0].Principal != "eve@fabrikam.com" {
		t.Errorf("tenant-b's feedback: %+v, %v", got, err)
	}

	got, err := s.ListFeedback(ctx, "tenant-a", "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []store.Feedback{f}) {
		t.Errorf("ListFeedback =\n%+v\nwant\n%+v", got, f)
	}
}

func TestRecordFeedbackConcurrentRetries(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	f := store.Feedback{FeedbackID: "fb-1", TenantID: "tenant-a", IncidentID: "inc-1", CardID: "card-1",
		Principal: "bob@contoso.com", Helpful: true}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.RecordFeedback(ctx, f)
			if err != nil {
				t.Error(err)
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if created != 1 {
		t.Errorf("%d calls created the feedback, want 1", created)
	}
	countRows(t, db, "feedback", 1)
}

func TestListFeedbackOrderAndScope(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for _, f := range []store.Feedback{
		{FeedbackID: "fb-late", TenantID: "tenant-a", IncidentID: "inc-1", CardID: "c1", Principal: "p", CreatedAt: at(12)},
		{FeedbackID: "fb-early", TenantID: "tenant-a", IncidentID: "inc-1", CardID: "c2", Principal: "p", CreatedAt: at(9)},
		{FeedbackID: "fb-other-incident", TenantID: "tenant-a", IncidentID: "inc-2", CardID: "c1", Principal: "p"},
		{FeedbackID: "fb-other-tenant", TenantID: "tenant-b", IncidentID: "inc-1", CardID: "c1", Principal: "p"},
		{FeedbackID: "fb-now", TenantID: "tenant-a", IncidentID: "inc-1", CardID: "c3", Principal: "p"},
	} {
		if _, err := s.RecordFeedback(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListFeedback(ctx, "tenant-a", "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range got {
		ids = append(ids, f.FeedbackID)
	}
	if want := []string{"fb-early", "fb-late", "fb-now"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ListFeedback = %v, want %v", ids, want)
	}
	if now := got[2].CreatedAt; now.Location() != time.UTC || time.Since(now) > time.Minute {
		t.Errorf("a feedback without time got %v, want now in UTC", now)
	}
	none, err := s.ListFeedback(ctx, "tenant-a", "inc-404")
	if err != nil || len(none) != 0 {
		t.Errorf("ListFeedback of an incident without feedback = %v, %v", none, err)
	}
}

func TestRecordFeedbackRefusesInvalid(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	valid := store.Feedback{FeedbackID: "fb-1", TenantID: "tenant-a", IncidentID: "inc-1", CardID: "c1", Principal: "p"}
	for name, mutate := range map[string]func(*store.Feedback){
		"no ID":            func(f *store.Feedback) { f.FeedbackID = "" },
		"no tenant":        func(f *store.Feedback) { f.TenantID = "" },
		"no card":          func(f *store.Feedback) { f.CardID = "" },
		"no principal":     func(f *store.Feedback) { f.Principal = "" },
		"unknown category": func(f *store.Feedback) { f.Category = "lunch" },
		"NUL in comment":   func(f *store.Feedback) { f.Comment = "a\x00b" },
	} {
		f := valid
		mutate(&f)
		if _, err := s.RecordFeedback(ctx, f); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: RecordFeedback = %v, want ErrInvalid", name, err)
		}
	}
}
