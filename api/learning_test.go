package api_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/workflows"
)

// TestFeedbackChangesLaterCards: analysts dismiss a card and mark it not helpful again and again, and
// approve another; the next incident of the same kind shows the first lower and the second higher, and
// says why.
func TestFeedbackChangesLaterCards(t *testing.T) {
	f := newFixture(t)
	const first, second = "3201", "3202"
	if r := f.ingest("../incident/testdata/native_phishing.json", "alice@contoso.com"); r.status != http.StatusAccepted {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	before := containment(f.waitCards(first, "alice@contoso.com"))
	if len(before) < 3 {
		t.Fatalf("want at least 3 containment cards, got %d", len(before))
	}
	top, bottom := before[0], before[len(before)-1]
	for i := len(before) - 1; i > 0 && !(bottom.Available && bottom.ApprovalsRequired <= 1 && bottom.TimeBox == 0); i-- {
		bottom = before[i-1]
	}
	if bottom.ID == top.ID {
		t.Fatal("no containment card below the top one that alice may apply alone")
	}
	base := "/v1/incidents/" + tenant + "/" + first
	for _, who := range []string{"alice@contoso.com", "bob@contoso.com", "rita@contoso.com"} {
		if r := f.do("POST", base+"/cards/"+top.ID+"/feedback", who, mustJSON(map[string]any{"helpful": false, "reason": "noisy"}), nil); r.status != http.StatusOK {
			t.Fatalf("feedback by %s: %d %s", who, r.status, r.body)
		}
	}
	decide := func(id, decision string) {
		t.Helper()
		if r := f.do("POST", base+"/cards/decisions", "alice@contoso.com", mustJSON(map[string]any{"cardIds": []string{id}, "decision": decision}), nil); r.status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", decision, id, r.status, r.body)
		}
	}
	decide(top.ID, "reject")
	decide(bottom.ID, "approve")
	for _, who := range []string{"alice@contoso.com", "bob@contoso.com", "rita@contoso.com"} {
		if r := f.do("POST", base+"/cards/"+bottom.ID+"/feedback", who, mustJSON(map[string]any{"helpful": true}), nil); r.status != http.StatusOK {
			t.Fatalf("feedback by %s: %d %s", who, r.status, r.body)
		}
	}

	// The workflow writes decisions to the audit trail in the background: wait for both.
	deadline := time.Now().Add(30 * time.Second)
	for {
		events, err := f.env.Store.ListAudit(context.Background(), tenant, first)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range events {
			if e.Kind == "decision" && (e.CardID == top.ID || e.CardID == bottom.ID) {
				n++
			}
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 decisions in the audit trail", n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The same campaign again: another incident, its own alerts.
	doc, err := os.ReadFile("../incident/testdata/native_phishing.json")
	if err != nil {
		t.Fatal(err)
	}
	twin := strings.NewReplacer(`"id": "3201"`, `"id": "3202"`, "fa7c1e2d3b4a-5968", "1a7c1e2d3b4a-5968", "fa9d8c7b6a5f-4e3d", "1a9d8c7b6a5f-4e3d").Replace(string(doc))
	if r := f.do("POST", "/v1/incidents", "alice@contoso.com", []byte(twin), nil); r.status != http.StatusAccepted {
		t.Fatalf("ingest the twin: %d %s", r.status, r.body)
	}
	after := containment(f.waitCards(second, "alice@contoso.com"))
	pos := func(cards []workflows.CardView, like workflows.CardView) (int, workflows.CardView) {
		for i, c := range cards {
			if c.RuleID == like.RuleID && c.Action == like.Action && c.Entity != nil && like.Entity != nil && c.Entity.Key == like.Entity.Key {
				return i, c
			}
		}
		t.Fatalf("no card like %s (%s %s) in the second incident", like.ID, like.RuleID, like.Action)
		return -1, workflows.CardView{}
	}
	topPos, topAfter := pos(after, top)
	bottomPos, bottomAfter := pos(after, bottom)
	t.Logf("first incident: %s at 1, %s at %d; second: %d and %d", top.Action, bottom.Action, len(before), topPos+1, bottomPos+1)
	if topPos == 0 || bottomPos >= topPos {
		t.Errorf("the not-helpful card is at %d and the approved one at %d: want the approved one above", topPos+1, bottomPos+1)
	}
	if topAfter.Confidence >= top.Confidence || bottomAfter.Confidence <= bottom.Confidence {
		t.Errorf("confidence: dismissed %v -> %v, approved %v -> %v", top.Confidence, topAfter.Confidence, bottom.Confidence, bottomAfter.Confidence)
	}
	if why := strings.Join(topAfter.Why, " "); !strings.Contains(why, "not helpful 3 time(s)") || !strings.Contains(why, "dismissed it 1 time(s)") {
		t.Errorf("the sunk card does not say why: %q", why)
	}
	if topAfter.Rank <= bottomAfter.Rank {
		t.Errorf("ranks: dismissed %d, approved %d", topAfter.Rank, bottomAfter.Rank)
	}
}

// containment is the containment cards, in the order the analyst sees them.
func containment(out workflows.CardsOutput) []workflows.CardView {
	var cs []workflows.CardView
	for _, c := range out.Cards {
		if c.Category == card.CategoryContainment {
			cs = append(cs, c)
		}
	}
	return cs
}
