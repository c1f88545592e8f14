package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/summary"
)

// DefaultTaskQueue is the task queue the worker polls and the starter starts workflows on.
const DefaultTaskQueue = "guided-response"

// Message names: the only place these strings are written.
const (
	// SignalIncidentUpdated carries a newer version of the incident (a re-ingest) to its running workflow.
	SignalIncidentUpdated = "incident-updated"
	// QueryStatus answers StatusOutput.
	QueryStatus = "status"
	// QuerySummary answers SummaryOutput: the attack story.
	QuerySummary = "summary"
	// QueryCards answers CardsOutput for CardsInput's principal: each card available or not, and why.
	QueryCards = "cards"
	// QueryReport answers ReportOutput: the closing report, once the incident is closed.
	QueryReport = "report"

	// Human decisions. Each name is both an Update (with a validator: the caller hears accepted, or
	// rejected and why, at once) and a Signal (for Temporal UI operators: a refused signal is recorded in
	// the status and ignored). One code path serves both.
	MessageClassify = "classify" // ClassifyInput -> ClassifyOutput
	MessageDecide   = "decide"   // DecideInput -> DecideOutput: approve or reject one or many cards
	MessageExtend   = "extend"   // ExtendInput -> DecideOutput: extend a time-boxed containment
	MessageUndo     = "undo"     // UndoInput -> DecideOutput: undo an applied reversible action now
	MessageFeedback = "feedback" // FeedbackInput -> FeedbackOutput
	// SignalRefreshAccess makes the workflow reload the tenant's principals and roles.
	SignalRefreshAccess = "refresh-access"
)

// Types of the application errors that refused decisions carry, for callers to map to HTTP statuses.
const (
	RejectForbidden = "Forbidden" // the principal is unknown or lacks the permission: 403
	RejectNotFound  = "NotFound"  // no such card: 404
	RejectConflict  = "Conflict"  // the card's state does not allow it (decided already, four-eyes): 409
	RejectInvalid   = "Invalid"   // the request is malformed or out of range: 422
	RejectNotReady  = "NotReady"  // the guided response is being prepared: 503, retry
)

// Search attributes, declared once; SearchAttributes lists them for registration.
var (
	SearchAttributeTenant   = temporal.NewSearchAttributeKeyKeyword("IncidentTenant")
	SearchAttributeID       = temporal.NewSearchAttributeKeyKeyword("IncidentId")
	SearchAttributeSeverity = temporal.NewSearchAttributeKeyKeyword("IncidentSeverity")
	SearchAttributeStatus   = temporal.NewSearchAttributeKeyKeyword("IncidentStatus")
	// Written by the guided response: the analyst's classification and how many approvals wait.
	SearchAttributeClassification   = temporal.NewSearchAttributeKeyKeyword("IncidentClassification")
	SearchAttributePendingApprovals = temporal.NewSearchAttributeKeyInt64("IncidentPendingApprovals")
)

// SearchAttributes are the custom search attributes the workflows write, by name and type: register them
// in the namespace before starting workers (`worker --dev` and `worker register-search-attributes` do).
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SearchAttributeTenant.GetName():           enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchAttributeID.GetName():               enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchAttributeSeverity.GetName():         enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchAttributeStatus.GetName():           enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchAttributeClassification.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchAttributePendingApprovals.GetName(): enumspb.INDEXED_VALUE_TYPE_INT,
	}
}

var plainID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// IncidentWorkflowID is the workflow ID of an incident: one workflow per (tenant, incident), so a second
// trigger of the same incident reaches the running workflow. Tenant and incident IDs are validated by the
// parser to a safe alphabet; anything else is hashed so the ID stays readable and collision-free.
func IncidentWorkflowID(tenantID, incidentID string) string {
	return "incident/" + idPart(tenantID) + "/" + idPart(incidentID)
}

func idPart(s string) string {
	if plainID.MatchString(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h-" + hex.EncodeToString(sum[:12])
}

// Phase is where an incident's workflow is.
type Phase string

// Phases.
const (
	PhaseIngesting Phase = "ingesting"
	// PhaseOpen: persisted; the guided response is being prepared or awaits decisions.
	PhaseOpen   Phase = "open"
	PhaseClosed Phase = "closed"
)

// IncidentInput starts an incident's workflow.
type IncidentInput struct {
	Incident incident.Incident `json:"incident"`
	// MaxUpdatesBeforeContinueAsNew bounds history growth from re-ingests; 0 means the default.
	MaxUpdatesBeforeContinueAsNew int `json:"maxUpdatesBeforeContinueAsNew,omitempty"`
	// Carried across continue-as-new.
	IngestCount int          `json:"ingestCount,omitempty"`
	Guided      *GuidedState `json:"guided,omitempty"`
}

// IncidentResult is what a closed incident's workflow returns.
type IncidentResult struct {
	TenantID       string                  `json:"tenantId"`
	IncidentID     string                  `json:"incidentId"`
	Status         string                  `json:"status"`
	IngestCount    int                     `json:"ingestCount"`
	Classification incident.Classification `json:"classification"`
	Determination  incident.Determination  `json:"determination"`
	// Applied and Failed count the cards whose actions were applied (or applied then undone) and failed.
	Applied int `json:"applied"`
	Failed  int `json:"failed"`
}

// IncidentUpdatedSignal carries a re-ingested incident.
type IncidentUpdatedSignal struct {
	Incident incident.Incident `json:"incident"`
}

// StatusInput is the status query's input (none yet; a struct so it can grow).
type StatusInput struct{}

// StatusOutput answers the status query.
type StatusOutput struct {
	Phase         Phase             `json:"phase"`
	TenantID      string            `json:"tenantId"`
	IncidentID    string            `json:"incidentId"`
	Title         string            `json:"title"`
	Severity      incident.Severity `json:"severity"`
	Status        incident.Status   `json:"status"`
	Alerts        int               `json:"alerts"`
	Entities      int               `json:"entities"`
	IngestCount   int               `json:"ingestCount"`
	Persisted     bool              `json:"persisted"`
	LastUpdatedAt string            `json:"lastUpdatedAt"`
	// RejectedUpdates counts re-ingest signals that were malformed and ignored.
	RejectedUpdates int `json:"rejectedUpdates"`

	Ready            bool                  `json:"ready"`
	Classification   *ClassificationRecord `json:"classification,omitempty"`
	PendingApprovals int                   `json:"pendingApprovals"`
	CardsByStatus    map[card.Status]int   `json:"cardsByStatus,omitempty"`
	Escalated        bool                  `json:"escalated"`
	// Rejected lists the latest refused decisions (signals are refused silently otherwise).
	Rejected []RejectedMessage `json:"rejected,omitempty"`
}

// ClassificationRecord is the analyst's classification of the incident.
type ClassificationRecord struct {
	Classification incident.Classification `json:"classification"`
	Determination  incident.Determination  `json:"determination"`
	Principal      string                  `json:"principal"`
	At             time.Time               `json:"at"`
	Comment        string                  `json:"comment,omitempty"`
	Via            string                  `json:"via"`
}

// ClassifyInput classifies the incident (Update and Signal MessageClassify).
type ClassifyInput struct {
	Principal      string                  `json:"principal"`
	Classification incident.Classification `json:"classification"`
	Determination  incident.Determination  `json:"determination"`
	Comment        string                  `json:"comment,omitempty"`
}

// ClassifyOutput is the accepted classification.
type ClassifyOutput struct {
	Classification ClassificationRecord `json:"classification"`
}

// DecideInput approves or rejects cards (Update and Signal MessageDecide). Several card IDs make a bulk
// decision: it is accepted whole or refused whole.
type DecideInput struct {
	Principal string            `json:"principal"`
	CardIDs   []string          `json:"cardIds"`
	Decision  card.DecisionKind `json:"decision"`
	Comment   string            `json:"comment,omitempty"`
}

// DecideOutput is the new state of the cards a decision touched.
type DecideOutput struct {
	Cards []card.Card `json:"cards"`
}

// ExtendInput extends a time-boxed containment (Update and Signal MessageExtend).
type ExtendInput struct {
	Principal string `json:"principal"`
	CardID    string `json:"cardId"`
	// By is a Go duration ("4h", "30m"): the new undo time is the current one plus By.
	By      string `json:"by"`
	Comment string `json:"comment,omitempty"`
}

// UndoInput undoes an applied reversible action now (Update and Signal MessageUndo).
type UndoInput struct {
	Principal string `json:"principal"`
	CardID    string `json:"cardId"`
	Comment   string `json:"comment,omitempty"`
}

// FeedbackInput is feedback on a card (Update and Signal MessageFeedback).
type FeedbackInput struct {
	// FeedbackID makes the feedback idempotent; empty gets one made from the card, principal and a counter.
	FeedbackID string `json:"feedbackId,omitempty"`
	Principal  string `json:"principal"`
	CardID     string `json:"cardId"`
	Helpful    bool   `json:"helpful"`
	Reason     string `json:"reason,omitempty"`
	Comment    string `json:"comment,omitempty"`
}

// FeedbackOutput says the feedback is stored.
type FeedbackOutput struct {
	FeedbackID string `json:"feedbackId"`
	Created    bool   `json:"created"`
}

// SummaryInput is the summary query's input.
type SummaryInput struct{}

// SummaryOutput is the attack story.
type SummaryOutput struct {
	Story summary.Story `json:"story"`
}

// CardsInput asks for the cards as principal sees them.
type CardsInput struct {
	Principal string `json:"principal"`
}

// CardView is a card with whether the principal may act on it.
type CardView struct {
	card.Card
	Available         bool   `json:"available"`
	UnavailableReason string `json:"unavailableReason,omitempty"`
	// CannotApply says why an available proposal cannot be approved: no connector of this deployment
	// applies its action (Card.Unsupported). It can still be rejected.
	CannotApply string `json:"cannotApply,omitempty"`
}

// CardsOutput answers the cards query.
type CardsOutput struct {
	Cards           []CardView `json:"cards"`
	PlaybookVersion string     `json:"playbookVersion"`
	ModelVersion    string     `json:"modelVersion"`
	Ready           bool       `json:"ready"`
}

// RejectedMessage records a decision that was refused: a signal the workflow ignored, kept for operators.
type RejectedMessage struct {
	At        time.Time `json:"at"`
	Message   string    `json:"message"`
	Principal string    `json:"principal,omitempty"`
	Reason    string    `json:"reason"`
}

// GuidedState is the guided response's state: carried whole across continue-as-new.
type GuidedState struct {
	Ready           bool                  `json:"ready"`
	Story           summary.Story         `json:"story"`
	Cards           []card.Card           `json:"cards"`
	Policy          activities.Policy     `json:"policy"`
	PlaybookVersion string                `json:"playbookVersion"`
	ModelVersion    string                `json:"modelVersion"`
	Access          rbac.Snapshot         `json:"access"`
	Classification  *ClassificationRecord `json:"classification,omitempty"`
	Escalated       bool                  `json:"escalated"`
	Rejected        []RejectedMessage     `json:"rejected,omitempty"`
	FeedbackCount   int                   `json:"feedbackCount"`
}

// ReportInput is the report query's input.
type ReportInput struct{}

// ReportOutput is the closing report; Closed is false (and the report empty) while the incident is open.
type ReportOutput struct {
	Closed   bool            `json:"closed"`
	Markdown string          `json:"markdown,omitempty"`
	JSON     json.RawMessage `json:"json,omitempty"`
}

// FeedbackWorkflowInput records feedback on a card of an incident whose workflow has closed.
type FeedbackWorkflowInput struct {
	Feedback activities.FeedbackRecord `json:"feedback"`
	// Permission the principal needs (read); checked against the tenant's principals when it runs.
	Permission rbac.Permission `json:"permission"`
}

// FeedbackWorkflowID is the workflow ID of a feedback given after close: one per feedback ID of a
// tenant (feedback IDs are the callers' idempotency keys, unique within a tenant only).
func FeedbackWorkflowID(tenantID, feedbackID string) string {
	return "feedback/" + idPart(tenantID) + "/" + idPart(feedbackID)
}
