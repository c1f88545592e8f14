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

func isolateStart(key string) store.ActionStart {
	return store.ActionStart{IdempotencyKey: key, TenantID: "tenant-a", IncidentID: "inc-1", CardID: "card-7",
		Action: card.ActionDeviceIsolate, Connector: "mde", Principal: "bob@contoso.com"}
}

func TestActionLogAppliesOnce(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	const key = "inc-1/card-7/apply"

	existing, err := s.BeginAction(ctx, isolateStart(key))
	if err != nil || existing != nil {
		t.Fatalf("first BeginAction = %+v, %v; want nil: go ahead", existing, err)
	}
	rec, err := s.GetAction(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != store.ActionApplying || rec.Attempts != 1 || !rec.FinishedAt.IsZero() || rec.Result() != nil ||
		rec.Connector != "mde" || rec.Principal != "bob@contoso.com" || time.Since(rec.StartedAt) > time.Minute {
		t.Errorf("begun action = %+v", rec)
	}

	// The worker died mid-apply: the retry finds the action applying, one more attempt.
	existing, err = s.BeginAction(ctx, isolateStart(key))
	if err != nil || existing == nil || existing.Status != store.ActionApplying || existing.Attempts != 2 {
		t.Fatalf("retried BeginAction = %+v, %v; want the applying record, attempt 2", existing, err)
	}

	if err := s.FinishAction(ctx, key, store.ActionApplied, "mde-action-42", "isolation requested", ""); err != nil {
		t.Fatal(err)
	}
	// Finishing again the same way is a retry; another way is a conflict.
	if err := s.FinishAction(ctx, key, store.ActionApplied, "mde-action-42", "isolation requested", ""); err != nil {
		t.Errorf("repeated FinishAction = %v", err)
	}
	if err := s.FinishAction(ctx, key, store.ActionFailed, "", "", "boom"); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("FinishAction with another outcome = %v, want ErrDuplicate", err)
	}

	// Once applied, BeginAction returns the outcome to report instead of applying twice.
	existing, err = s.BeginAction(ctx, isolateStart(key))
	if err != nil || existing == nil {
		t.Fatalf("BeginAction after applying = %+v, %v", existing, err)
	}
	res := existing.Result()
	if existing.Status != store.ActionApplied || existing.Attempts != 2 || res == nil ||
		res.ExternalID != "mde-action-42" || res.Message != "isolation requested" || res.Connector != "mde" ||
		res.Attempts != 2 || res.FinishedAt.IsZero() || res.FinishedAt.Location() != time.UTC {
		t.Errorf("BeginAction after applying = %+v, result %+v", existing, res)
	}
	got, err := s.GetAction(ctx, key)
	if err != nil || !reflect.DeepEqual(got, *existing) {
		t.Errorf("GetAction = %+v, %v; want %+v", got, err, *existing)
	}
	countRows(t, db, "action_log", 1)
}

func TestActionLogFailureAndConflicts(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	const key = "inc-1/card-7/apply"
	if _, err := s.BeginAction(ctx, isolateStart(key)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishAction(ctx, key, store.ActionFailed, "", "", "403: missing Machine.Isolate"); err != nil {
		t.Fatal(err)
	}
	rec, err := s.BeginAction(ctx, isolateStart(key))
	if err != nil || rec == nil || rec.Status != store.ActionFailed || rec.Attempts != 1 ||
		rec.Result().Error != "403: missing Machine.Isolate" {
		t.Errorf("BeginAction after a failure = %+v, %v", rec, err)
	}

	other := isolateStart(key)
	other.CardID = "card-8"
	if _, err := s.BeginAction(ctx, other); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("BeginAction reusing a key for another card = %v, want ErrDuplicate", err)
	}
	if _, err := s.GetAction(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAction(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.FinishAction(ctx, "nope", store.ActionApplied, "", "", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishAction(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.FinishAction(ctx, key, store.ActionApplying, "", "", ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("FinishAction(applying) = %v, want ErrInvalid", err)
	}
	noAction := isolateStart("k2")
	noAction.Action = ""
	if _, err := s.BeginAction(ctx, noAction); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("BeginAction without an action = %v, want ErrInvalid", err)
	}
}

func TestBeginActionConcurrent(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
		begun int
		errs  []error
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := s.BeginAction(ctx, isolateStart("inc-1/card-7/apply"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case rec == nil:
				fresh++
			default:
				begun++
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 || fresh != 1 || begun != 7 {
		t.Fatalf("concurrent BeginAction: %d went ahead, %d found it begun, errors %v; want 1 and 7", fresh, begun, errs)
	}
	rec, err := s.GetAction(ctx, "inc-1/card-7/apply")
	if err != nil || rec.Attempts != 8 {
		t.Errorf("after 8 begins: %+v, %v; want 8 attempts", rec, err)
	}
}

func TestDryRunsRecordOncePerKey(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	d := store.DryRun{IdempotencyKey: "inc-1/card-7/apply", TenantID: "tenant-a", IncidentID: "inc-1", CardID: "card-7",
		Action: card.ActionDeviceIsolate, EntityKey: "device:mde:abc",
		Parameters: map[string]string{"isolationType": "Full", "comment": "guided response"},
		Principal:  "bob@contoso.com", RecordedAt: at(10)}
	for i, wantCreated := range []bool{true, false} {
		created, err := s.RecordDryRun(ctx, d)
		if err != nil || created != wantCreated {
			t.Fatalf("RecordDryRun #%d = %v, %v; want created %v", i+1, created, err, wantCreated)
		}
	}
	if n, err := s.CountDryRuns(ctx, d.IdempotencyKey); err != nil || n != 1 {
		t.Errorf("CountDryRuns = %d, %v; want 1", n, err)
	}
	if n, err := s.CountDryRuns(ctx, "never"); err != nil || n != 0 {
		t.Errorf("CountDryRuns(never) = %d, %v; want 0", n, err)
	}
	conflict := d
	conflict.Parameters = map[string]string{"isolationType": "Selective"}
	if _, err := s.RecordDryRun(ctx, conflict); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("RecordDryRun with other parameters = %v, want ErrDuplicate", err)
	}
	countRows(t, db, "dry_run_actions", 1)

	scan := store.DryRun{IdempotencyKey: "inc-1/card-3/apply", TenantID: "tenant-a", IncidentID: "inc-1", CardID: "card-3",
		Action: card.ActionDeviceRunAntivirusScan, EntityKey: "device:mde:abc", RecordedAt: at(9)}
	for _, dr := range []store.DryRun{scan, {IdempotencyKey: "other", TenantID: "tenant-a", IncidentID: "inc-2",
		CardID: "c", Action: card.ActionUserDisable}} {
		if _, err := s.RecordDryRun(ctx, dr); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListDryRuns(ctx, "tenant-a", "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.DryRun{scan, d}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListDryRuns =\n%+v\nwant\n%+v", got, want)
	}
}
