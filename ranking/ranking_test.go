package ranking

import (
	"testing"

	"github.com/guided-response/guided/card"
)

func cards() []card.Card {
	return []card.Card{
		{ID: "t", Category: card.CategoryTriage, Rank: 0},
		{ID: "a", Category: card.CategoryContainment, RuleID: "r1", Action: card.ActionUserDisable, Rank: 1, Confidence: 0.8},
		{ID: "b", Category: card.CategoryContainment, RuleID: "r2", Action: card.ActionUserRevokeSessions, Rank: 2, Confidence: 0.7},
		{ID: "c", Category: card.CategoryContainment, RuleID: "r3", Action: card.ActionEmailSoftDelete, Rank: 3, Confidence: 0.6},
		{ID: "d", Category: card.CategoryRemediation, RuleID: "r4", Action: card.ActionUserForcePasswordReset, Rank: 1, Confidence: 0.5},
	}
}

func ids(cs []card.Card) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestNoSignalsKeepsThePlaybookOrder(t *testing.T) {
	got := Rerank(cards(), nil, nil)
	if want := []string{"t", "a", "b", "c", "d"}; !equal(ids(got), want) {
		t.Fatalf("order %v, want %v", ids(got), want)
	}
	for i, c := range got {
		if c.Confidence != cards()[i].Confidence || len(c.Why) != 0 {
			t.Errorf("card %s changed without signals: %+v", c.ID, c)
		}
	}
}

func TestNotHelpfulSinksApprovedRises(t *testing.T) {
	got := Rerank(cards(), map[Key]Signals{
		{"r1", card.ActionUserDisable}:     {NotHelpful: 3, Rejected: 2},
		{"r3", card.ActionEmailSoftDelete}: {Approved: 6, Helpful: 2},
	}, nil)
	if want := []string{"t", "c", "b", "a", "d"}; !equal(ids(got), want) {
		t.Fatalf("order %v, want %v", ids(got), want)
	}
	ranks := map[string]int{}
	for _, c := range got {
		ranks[c.ID] = c.Rank
	}
	if ranks["c"] != 1 || ranks["b"] != 2 || ranks["a"] != 3 || ranks["d"] != 1 {
		t.Errorf("ranks %v", ranks)
	}
	if got[1].Confidence <= 0.6 || got[3].Confidence >= 0.8 || len(got[3].Why) != 1 {
		t.Errorf("confidences: c %v, a %v; a's reasons %v", got[1].Confidence, got[3].Confidence, got[3].Why)
	}
}

func TestScoreShrinksTowardThePlaybook(t *testing.T) {
	one := Score(0.8, Signals{NotHelpful: 1})
	many := Score(0.8, Signals{NotHelpful: 20})
	if !(one < 0.8 && many < one && many > 0) {
		t.Fatalf("one not-helpful %v, twenty %v: want 0 < twenty < one < 0.8", one, many)
	}
	if Score(0.3, Signals{}) != 0.3 {
		t.Fatal("no signals must keep the playbook's confidence")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSimilarIncidentsActionsRaiseACard(t *testing.T) {
	// The third card, applied in 90% of similar incidents: 0.6 + (1-0.6)*0.9/2 = 0.78, above the second.
	got := Rerank(cards(), nil, map[card.Action]float64{card.ActionEmailSoftDelete: 0.9})
	if want := []string{"t", "a", "c", "b", "d"}; !equal(ids(got), want) {
		t.Fatalf("order %v, want %v", ids(got), want)
	}
	if got[2].Confidence != 0.78 || len(got[2].Why) != 1 || got[2].Rank != 2 {
		t.Errorf("raised card %+v", got[2])
	}
}

func TestActionOf(t *testing.T) {
	for label, want := range map[string]card.Action{
		"isolateresponse": card.ActionDeviceIsolate, "IsolateDevice": card.ActionDeviceIsolate, "Reset user password.": card.ActionUserForcePasswordReset,
		"device.isolate": card.ActionDeviceIsolate, "investigation.huntingQuery": "", "somethingelse": "", "": "",
	} {
		if got := ActionOf(label); got != want {
			t.Errorf("ActionOf(%q) = %q, want %q", label, got, want)
		}
	}
}
