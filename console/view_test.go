package console_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/console"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/workflows"
)

// TestPaneCardNoConnectorApplies: a proposal no connector of the deployment applies shows why, with Apply
// disabled and Dismiss still there; an ordinary proposal has both.
func TestPaneCardNoConnectorApplies(t *testing.T) {
	r, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	cards := workflows.CardsOutput{Ready: true, Cards: []workflows.CardView{
		{Card: card.Card{ID: "c-sender", Category: card.CategoryContainment, Title: "Block sender", Action: card.ActionEmailBlockSender,
			Status: card.StatusProposed, Permission: rbac.PermEmailAdvancedManage, Unsupported: "no connector applies email.blockSender"},
			Available: true, CannotApply: "no connector applies email.blockSender; reject it"},
		{Card: card.Card{ID: "c-isolate", Category: card.CategoryContainment, Title: "Isolate device", Action: card.ActionDeviceIsolate,
			Status: card.StatusProposed, Permission: rbac.PermResponseManage}, Available: true},
	}}
	pane := console.NewPane("/console/incidents/t/1", "tok", cards, workflows.StatusOutput{}, nil, "alice@contoso.com")
	rec := httptest.NewRecorder()
	if err := r.Render(rec, http.StatusOK, "pane", pane.AsFragment()); err != nil {
		t.Fatal(err)
	}
	html := rec.Body.String()
	form := func(id string) string {
		m := regexp.MustCompile(`(?s)<form class="decide"[^>]*cards/` + id + `/decide".*?</form>`).FindString(html)
		if m == "" {
			t.Fatalf("no decide form for %s in:\n%s", id, html)
		}
		return m
	}
	sender := form("c-sender")
	if !regexp.MustCompile(`value="approve"[^>]*disabled`).MatchString(sender) || regexp.MustCompile(`value="reject"[^>]*disabled`).MatchString(sender) ||
		!strings.Contains(sender, "Cannot be applied here: no connector applies email.blockSender") {
		t.Errorf("the unsupported card's form:\n%s", sender)
	}
	isolate := form("c-isolate")
	if regexp.MustCompile(`<button[^>]*\sdisabled`).MatchString(isolate) || strings.Contains(isolate, "Cannot be applied") {
		t.Errorf("the ordinary card's form:\n%s", isolate)
	}
}
