package console

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/summary"
	"github.com/guided-response/guided/workflows"
)

// Layout is what every page shows around its content: who is signed in and the form token.
type Layout struct {
	Title     string
	Principal string
	Tenant    string
	// CSRF is the session's form token: htmx sends it as a header, forms as a field.
	CSRF string
}

// SignInPage is the sign-in form.
type SignInPage struct {
	Layout
	Next    string
	Problem string
	// OIDC is the URL that starts an OpenID Connect sign-in, when one is configured.
	OIDC string
}

// ErrorPage says what went wrong and what to do.
type ErrorPage struct {
	Layout
	Status  int
	Heading string
	Detail  string
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
	Selected     bool
}

// QueueFilter is the queue's filter, as the URL's query carries it.
type QueueFilter struct {
	Status, Severity, Classification string
}

// Query is the filter as URL parameters.
func (f QueueFilter) Query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "severity": f.Severity, "classification": f.Classification} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// QueuePage is the incident queue.
type QueuePage struct {
	Layout
	Filter                QueueFilter
	StatusOptions         []Option
	SeverityOptions       []Option
	ClassificationOptions []Option
	Rows                  []QueueRow
	// Next is the URL of the next page, if any.
	Next    string
	Problem string
}

// QueueRow is one incident of the queue.
type QueueRow struct {
	URL              string
	IncidentID       string
	Title            string
	Severity         string
	Status           string
	Classification   string
	PendingApprovals int64
	Created          time.Time
	Closed           bool
}

// SortNewestFirst orders rows by when the incident was created, newest first (open incidents are listed
// before closed ones by Temporal's visibility; the queue shows one order).
func SortNewestFirst(rows []QueueRow) {
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Created.After(rows[j].Created) })
}

// FilterOptions are the choices of the queue's filters, with f's selected.
func FilterOptions(f QueueFilter) (status, severity, classification []Option) {
	mk := func(current string, values ...string) []Option {
		out := []Option{{Value: "", Label: "Any", Selected: current == ""}}
		for _, v := range values {
			out = append(out, Option{Value: v, Label: PortalName(v), Selected: v == current})
		}
		return out
	}
	status = mk(f.Status, string(incident.StatusActive), string(incident.StatusInProgress), string(incident.StatusNew),
		string(incident.StatusAwaitingAction), string(incident.StatusResolved), "closed")
	severity = mk(f.Severity, string(incident.SeverityHigh), string(incident.SeverityMedium), string(incident.SeverityLow),
		string(incident.SeverityInformational))
	classification = mk(f.Classification, string(incident.ClassificationTruePositive),
		string(incident.ClassificationInformationalExpectedActivity), string(incident.ClassificationFalsePositive))
	return status, severity, classification
}

// IncidentPage is the incident: its story, alerts and entities, and the guided response pane.
type IncidentPage struct {
	Layout
	Base        string
	IncidentID  string
	Status      workflows.StatusOutput
	Story       summary.Story
	Pane        Pane
	TemporalURL string
	Closed      bool
	// SimilarEmails is the "View similar emails" query (phishing), empty otherwise.
	SimilarEmails string
}

// Pane is the guided response pane, rendered whole on every change.
type Pane struct {
	Base      string
	CSRF      string
	Ready     bool
	Closed    bool
	Poll      bool
	Flash     string
	FlashKind string // "error" or "ok"

	Triage            *CardVM
	Classification    *workflows.ClassificationRecord
	ClassifyAvailable bool
	ClassifyReason    string
	Classifications   []ClassOption
	Groups            []Group

	PlaybookVersion string
	ModelVersion    string

	// Facts are the incident's header facts the pane's answers update out of band (OOB: htmx swaps them
	// in place); OOB is set on fragments only.
	Facts Facts
	OOB   bool
}

// Facts are the incident's status and classification, shown in the page's header.
type Facts struct {
	Status         string
	Closed         bool
	Classification *workflows.ClassificationRecord
	OOB            bool
}

// AsFragment marks the pane as an answer to htmx: the header facts come with it.
func (p Pane) AsFragment() Pane {
	p.OOB, p.Facts.OOB = true, true
	return p
}

// ClassOption is a classification with its determinations.
type ClassOption struct {
	Value, Label   string
	Selected       bool
	Determinations []Option
}

// Group is the cards of one category.
type Group struct {
	Category card.Category
	Title    string
	Cards    []CardVM
}

// CardVM is a card as the signed-in analyst sees it.
type CardVM struct {
	workflows.CardView
	Applicable bool
	// CanDecide: proposed and the analyst may approve or reject it; CanUndo and CanExtend likewise.
	// CanApprove: CanDecide, and a connector here applies the action (else only Dismiss).
	CanDecide  bool
	CanApprove bool
	CanUndo    bool
	CanExtend  bool
	// Approvals counts approvals so far of a four-eyes card.
	Approvals int
	// Feedback is the analyst's latest feedback on the card; FeedbackID is a fresh key for the form, so
	// that a resent form records nothing twice.
	Feedback   *store.Feedback
	FeedbackID string
}

// NewPane builds the pane of cards for principal, with principal's feedback.
func NewPane(base, csrf string, cards workflows.CardsOutput, st workflows.StatusOutput, feedback []store.Feedback, principal string) Pane {
	p := Pane{
		Base: base, CSRF: csrf, Ready: cards.Ready, Closed: st.Phase == workflows.PhaseClosed,
		Classification: st.Classification, PlaybookVersion: cards.PlaybookVersion, ModelVersion: cards.ModelVersion,
	}
	p.Facts = Facts{Status: string(st.Status), Closed: p.Closed, Classification: st.Classification}
	mine := map[string]*store.Feedback{}
	for i := range feedback {
		f := &feedback[i]
		if f.Principal != principal {
			continue
		}
		if prev, ok := mine[f.CardID]; !ok || !f.CreatedAt.Before(prev.CreatedAt) {
			mine[f.CardID] = f
		}
	}
	groups := map[card.Category]*Group{}
	var order []card.Category
	for _, cv := range cards.Cards {
		vm := CardVM{CardView: cv, Applicable: cv.Action.Applicable(), Approvals: len(cv.Approvers), Feedback: mine[cv.ID], FeedbackID: newFeedbackID()}
		open := !p.Closed
		vm.CanDecide = open && cv.Available && cv.Status == card.StatusProposed && cv.Category != card.CategoryTriage
		vm.CanApprove = vm.CanDecide && cv.CannotApply == ""
		vm.CanUndo = open && cv.Available && cv.Status == card.StatusApplied && cv.Reversible && cv.UndoAction != ""
		vm.CanExtend = vm.CanUndo && !cv.UndoAt.IsZero()
		if cv.Status == card.StatusApproved || cv.Status == card.StatusApplying {
			p.Poll = true
		}
		if cv.Category == card.CategoryTriage {
			t := vm
			p.Triage = &t
			p.ClassifyAvailable, p.ClassifyReason = cv.Available && open, cv.UnavailableReason
			continue
		}
		g, ok := groups[cv.Category]
		if !ok {
			g = &Group{Category: cv.Category, Title: categoryTitles[cv.Category]}
			groups[cv.Category] = g
			order = append(order, cv.Category)
		}
		g.Cards = append(g.Cards, vm)
	}
	for _, c := range order {
		p.Groups = append(p.Groups, *groups[c])
	}
	if !p.Ready && !p.Closed {
		p.Poll = true
	}
	if p.Triage == nil && p.Ready && !p.Closed {
		p.ClassifyAvailable = true
	}
	p.Classifications = ClassOptions(p.suggested())
	return p
}

// suggested is what the classification form starts with: the analyst's classification, else the
// triage card's confident suggestion.
func (p Pane) suggested() (incident.Classification, incident.Determination) {
	if p.Classification != nil {
		return p.Classification.Classification, p.Classification.Determination
	}
	if p.Triage != nil && p.Triage.Triage != nil && !p.Triage.Triage.Unsure {
		return p.Triage.Triage.Classification, p.Triage.Triage.Determination
	}
	return "", ""
}

// ClassOptions are the classifications with their determinations, c and d selected.
func ClassOptions(c incident.Classification, d incident.Determination) []ClassOption {
	var out []ClassOption
	for _, cl := range []incident.Classification{incident.ClassificationTruePositive,
		incident.ClassificationInformationalExpectedActivity, incident.ClassificationFalsePositive} {
		o := ClassOption{Value: string(cl), Label: PortalName(cl), Selected: cl == c}
		for _, det := range incident.Determinations(cl) {
			o.Determinations = append(o.Determinations, Option{Value: string(det), Label: PortalName(det), Selected: cl == c && det == d})
		}
		out = append(out, o)
	}
	return out
}

// SimilarEmailsQuery is the "View similar emails" card's query, if the incident has one.
func SimilarEmailsQuery(cards []workflows.CardView) string {
	i := slices.IndexFunc(cards, func(c workflows.CardView) bool {
		return c.Action == card.ActionInvestigateSimilarEmails && c.Query != ""
	})
	if i < 0 {
		return ""
	}
	return cards[i].Query
}

// SimilarPanel is the "View similar incidents" tab.
type SimilarPanel struct {
	Method  string
	Items   []SimilarItem
	Problem string
}

// SimilarItem is one similar incident with how it was graded and what was done.
type SimilarItem struct {
	store.SimilarIncident
	URL string
}

// ReportPage is the closing report.
type ReportPage struct {
	Layout
	Base       string
	IncidentID string
	Markdown   string
	CreatedAt  time.Time
}

func newFeedbackID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "fb-" + hex.EncodeToString(b)
}
