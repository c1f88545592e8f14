package connector

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/guided-response/guided/card"
)

// memoryRecorder is a DryRunRecorder in memory, one record per idempotency key, like the store's table.
type memoryRecorder struct {
	mu      sync.Mutex
	records map[string]DryRunRecord
	err     error
}

func newMemoryRecorder() *memoryRecorder {
	return &memoryRecorder{records: map[string]DryRunRecord{}}
}

func (m *memoryRecorder) RecordDryRun(ctx context.Context, r DryRunRecord) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false, m.err
	}
	if _, ok := m.records[r.IdempotencyKey]; ok {
		return false, nil
	}
	m.records[r.IdempotencyKey] = r
	return true, nil
}

func TestDryRunRecordsOncePerKey(t *testing.T) {
	rec := newMemoryRecorder()
	d := NewDryRun(rec, nil)
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return at }
	req := request(card.ActionDeviceIsolate, deviceEntity(), map[string]string{"isolationType": "Full"})
	res, err := d.Apply(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "dry run: would device.isolate ws-042.contoso.com"; res.Message != want {
		t.Errorf("Message = %q, want %q", res.Message, want)
	}
	again, err := d.Apply(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Message != "dry run: would device.isolate ws-042.contoso.com (already recorded)" {
		t.Errorf("second Message = %q", again.Message)
	}
	if len(rec.records) != 1 {
		t.Fatalf("%d records, want 1", len(rec.records))
	}
	want := DryRunRecord{
		IdempotencyKey: req.IdempotencyKey, TenantID: testTenantID, IncidentID: "inc-1", CardID: req.CardID,
		Action: card.ActionDeviceIsolate, EntityKey: "device:mde:" + testMachineID,
		Parameters: map[string]string{"isolationType": "Full"}, Principal: "analyst@contoso.com", RecordedAt: at,
	}
	if got := rec.records[req.IdempotencyKey]; !reflect.DeepEqual(got, want) {
		t.Errorf("record\n%+v\nwant\n%+v", got, want)
	}
	// The record holds its own copy of the parameters.
	req.Parameters["isolationType"] = "Selective"
	if rec.records[req.IdempotencyKey].Parameters["isolationType"] != "Full" {
		t.Error("the record shares the request's parameter map")
	}

	other := req
	other.IdempotencyKey = "another"
	if _, err := d.Apply(context.Background(), other, nil); err != nil || len(rec.records) != 2 {
		t.Fatalf("another key: %v, %d records", err, len(rec.records))
	}
}

func TestDryRunRefusals(t *testing.T) {
	rec := newMemoryRecorder()
	d := NewDryRun(rec, nil)
	noKey := request(card.ActionDeviceIsolate, deviceEntity(), nil)
	noKey.IdempotencyKey = ""
	if _, err := d.Apply(context.Background(), noKey, nil); !IsPermanent(err) {
		t.Errorf("no idempotency key: %v", err)
	}
	if _, err := d.Apply(context.Background(), request(card.ActionInvestigateHunt, deviceEntity(), nil), nil); !IsPermanent(err) {
		t.Errorf("investigation action: %v", err)
	}
	rec.err = errors.New("connection refused")
	_, err := d.Apply(context.Background(), request(card.ActionDeviceIsolate, deviceEntity(), nil), nil)
	if err == nil || IsPermanent(err) || !errors.Is(err, rec.err) {
		t.Errorf("recorder failure: %v, want a retryable error wrapping it", err)
	}
	for _, a := range applicableActions {
		if !d.Supports(a) {
			t.Errorf("dry run does not support %s", a)
		}
	}
}
