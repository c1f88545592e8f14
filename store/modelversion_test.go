package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guided-response/guided/store"
)

// LatestModelVersion names the model LatestModel answers, without its body.
func TestLatestModelVersion(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.LatestModelVersion(ctx, "triage"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no model yet: %v", err)
	}
	for _, v := range []string{"triage-1", "triage-2"} {
		if err := s.SaveModel(ctx, store.Model{Kind: "triage", Version: v, Body: []byte(v)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	v, err := s.LatestModelVersion(ctx, "triage")
	m, err2 := s.LatestModel(ctx, "triage")
	if err != nil || err2 != nil || v != "triage-2" || m.Version != v {
		t.Fatalf("latest version %q (%v), latest model %q (%v)", v, err, m.Version, err2)
	}
}
