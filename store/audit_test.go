package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/store"
)

func TestRecordAuditIsIdempotentAndOrdered(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	events := []store.AuditEvent{
		{TenantID: "tenant-a", IncidentID: "inc-1", At: at(11), Principal: "bob@contoso.com",
			Kind: store.AuditDecision, CardID: "card-7", EventKey: "inc-1/card-7/approve/1",
			Detail: json.RawMessage(`{"decision": "approve", "via": "update"}`)},
		{TenantID: "tenant-a", IncidentID: "inc-1", At: at(10), Kind: store.AuditClassification,
			EventKey: "inc-1/classify/1", Detail: json.RawMessage(`{"classification":"truePositive","confidence":0.91}`)},
		// Same time as the first: listed in the order recorded.
		{TenantID: "tenant-a", IncidentID: "inc-1", At: at(11), Kind: store.AuditAction, CardID: "card-7",
			EventKey: "inc-1/card-7/apply/1"},
		{TenantID: "tenant-a", IncidentID: "inc-2", At: at(9), Kind: store.AuditSystem, EventKey: "inc-2/start"},
		{TenantID: "tenant-b", IncidentID: "inc-1", At: at(9), Kind: store.AuditSystem, EventKey: "b/inc-1/start"},
	}
	for range 2 { // a retried activity records each event once
		for _, e := range events {
			if err := s.RecordAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	countRows(t, db, "audit", len(events))

	// A reused key with other content leaves the first event as it was.
	changed := events[0]
	changed.Principal = "mallory@contoso.com"
	if err := s.RecordAudit(ctx, changed); err != nil {
		t.Fatal(err)
	}

	got, err := s.ListAudit(ctx, "tenant-a", "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range got {
		keys = append(keys, e.EventKey)
	}
	want := []string{"inc-1/classify/1", "inc-1/card-7/approve/1", "inc-1/card-7/apply/1"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("ListAudit order = %v, want %v", keys, want)
	}
	approve := got[1]
	if approve.Principal != "bob@contoso.com" || approve.Kind != store.AuditDecision || approve.CardID != "card-7" ||
		!approve.At.Equal(at(11)) || approve.At.Location() != time.UTC || approve.ID == 0 {
		t.Errorf("approve event = %+v", approve)
	}
	checkJSON(t, approve.Detail, `{"via":"update","decision":"approve"}`)
	checkJSON(t, got[2].Detail, `{}`)
}

func TestRecordAuditRefusesInvalid(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	valid := store.AuditEvent{TenantID: "tenant-a", IncidentID: "inc-1", Kind: store.AuditSystem, EventKey: "k"}
	for name, mutate := range map[string]func(*store.AuditEvent){
		"no key":       func(e *store.AuditEvent) { e.EventKey = "" },
		"no incident":  func(e *store.AuditEvent) { e.IncidentID = "" },
		"unknown kind": func(e *store.AuditEvent) { e.Kind = "gossip" },
		"bad JSON":     func(e *store.AuditEvent) { e.Detail = json.RawMessage(`{"a":`) },
		"NUL in JSON":  func(e *store.AuditEvent) { e.Detail = json.RawMessage(`{"a":"\u0000"}`) },
	} {
		e := valid
		mutate(&e)
		if err := s.RecordAudit(ctx, e); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: RecordAudit = %v, want ErrInvalid", name, err)
		}
	}
	// Without a time, now.
	if err := s.RecordAudit(ctx, valid); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListAudit(ctx, "tenant-a", "inc-1")
	if err != nil || len(got) != 1 || time.Since(got[0].At) > time.Minute {
		t.Errorf("ListAudit = %+v, %v; want one event of now", got, err)
	}
}

// checkJSON compares JSON by value, not text: jsonb normalizes what it stores.
func checkJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}

// countRows checks how many rows a table holds.
func countRows(t *testing.T, db *sqlx.DB, table string, want int) {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM `+table); err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("%s holds %d rows, want %d", table, n, want)
	}
}
