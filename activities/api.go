package activities

import (
	"encoding/json"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/summary"
)

// Error types of non-retryable application errors raised by activities.
const (
	// ErrTypeInvalidIncident: the incident fails validation; retrying cannot help.
	ErrTypeInvalidIncident = "InvalidIncident"
)

// PersistIncidentInput is the input of PersistIncident.
type PersistIncidentInput struct {
	Incident incident.Incident `json:"incident"`
}

// PersistIncidentOutput says what the store did.
type PersistIncidentOutput struct {
	Created bool `json:"created"`
	Changed bool `json:"changed"`
}

// Error types of the guided response's activities.
const (
	// ErrTypeActionForbidden: the principal may no longer apply the action (checked again at apply time).
	ErrTypeActionForbidden = "ActionForbidden"
	// ErrTypeActionPermanent: the target refused for good (forbidden, not found, bad request, unsupported).
	ErrTypeActionPermanent = "ActionPermanent"
	// ErrTypeActionRetryable: the target failed in a way a retry may fix (5xx, 429, network).
	ErrTypeActionRetryable = "ActionRetryable"
)

// Policy is how the guided response of one incident behaves; the workflow keeps the policy it started with.
type Policy struct {
	// ClassificationSLA per severity: unclassified past it, the incident is escalated.
	ClassificationSLA map[incident.Severity]time.Duration `json:"classificationSla"`
	// ApprovalTTL: a proposed action not decided within it expires.
	ApprovalTTL time.Duration `json:"approvalTtl"`
	// RequiredApprovals per risk: how many distinct principals must approve (four-eyes: 2 for high).
	RequiredApprovals map[card.Risk]int `json:"requiredApprovals"`
	// ApplyAttempts bounds the retries of an action before it is marked failed.
	ApplyAttempts int `json:"applyAttempts"`
	// ApplyTimeout bounds one attempt (Defender machine actions take minutes).
	ApplyTimeout time.Duration `json:"applyTimeout"`
	// AccessRefresh: how often the workflow reloads principals and roles.
	AccessRefresh time.Duration `json:"accessRefresh"`
}

// DefaultPolicy is the policy when the worker is given none.
func DefaultPolicy() Policy {
	return Policy{
		ClassificationSLA: map[incident.Severity]time.Duration{
			incident.SeverityHigh:          time.Hour,
			incident.SeverityMedium:        4 * time.Hour,
			incident.SeverityLow:           24 * time.Hour,
			incident.SeverityInformational: 72 * time.Hour,
			incident.SeverityUnknown:       24 * time.Hour,
		},
		ApprovalTTL:       24 * time.Hour,
		RequiredApprovals: map[card.Risk]int{card.RiskHigh: 2, card.RiskMedium: 1, card.RiskLow: 1},
		ApplyAttempts:     5,
		ApplyTimeout:      15 * time.Minute,
		AccessRefresh:     10 * time.Minute,
	}
}

// LoadAccessInput asks for a tenant's principals and roles.
type LoadAccessInput struct {
	TenantID string `json:"tenantId"`
}

// LoadAccessOutput is the snapshot the workflow's validators check decisions against.
type LoadAccessOutput struct {
	Access rbac.Snapshot `json:"access"`
}

// SummarizeInput asks for the attack story of an incident.
type SummarizeInput struct {
	Incident incident.Incident `json:"incident"`
}

// SummarizeOutput is the attack story.
type SummarizeOutput struct {
	Story summary.Story `json:"story"`
}

// GenerateCardsInput asks for the cards of an incident.
type GenerateCardsInput struct {
	Incident incident.Incident `json:"incident"`
	// ModelVersion pins the triage model: a running workflow regenerating its cards keeps the version it
	// started with; empty takes the latest.
	ModelVersion string `json:"modelVersion,omitempty"`
}

// GenerateCardsOutput is the cards, from the playbook set and the triage model current at the time.
type GenerateCardsOutput struct {
	Cards           []card.Card `json:"cards"`
	PlaybookVersion string      `json:"playbookVersion"`
	ModelVersion    string      `json:"modelVersion"`
	Policy          Policy      `json:"policy"`
}

// ApplyActionInput applies (or undoes) one card's action.
type ApplyActionInput struct {
	// IdempotencyKey is made in the workflow from (incident, card, action).
	IdempotencyKey string            `json:"idempotencyKey"`
	TenantID       string            `json:"tenantId"`
	IncidentID     string            `json:"incidentId"`
	CardID         string            `json:"cardId"`
	Action         card.Action       `json:"action"`
	Permission     rbac.Permission   `json:"permission"`
	Entity         incident.Entity   `json:"entity"`
	Parameters     map[string]string `json:"parameters,omitempty"`
	Principal      string            `json:"principal"`
	Comment        string            `json:"comment,omitempty"`
}

// ApplyActionOutput is what the connector answered.
type ApplyActionOutput struct {
	Result card.Result `json:"result"`
}

// AuditInput records one audit event.
type AuditInput struct {
	// EventKey makes the record idempotent (retries and replays write it once).
	EventKey   string         `json:"eventKey"`
	TenantID   string         `json:"tenantId"`
	IncidentID string         `json:"incidentId"`
	At         time.Time      `json:"at"`
	Principal  string         `json:"principal"`
	Kind       string         `json:"kind"`
	CardID     string         `json:"cardId,omitempty"`
	Detail     map[string]any `json:"detail,omitempty"`
}

// FeedbackRecord is feedback on a card, as stored.
type FeedbackRecord struct {
	FeedbackID string        `json:"feedbackId"`
	TenantID   string        `json:"tenantId"`
	IncidentID string        `json:"incidentId"`
	CardID     string        `json:"cardId"`
	Action     card.Action   `json:"action,omitempty"`
	Category   card.Category `json:"category,omitempty"`
	RuleID     string        `json:"ruleId,omitempty"`
	Principal  string        `json:"principal"`
	Helpful    bool          `json:"helpful"`
	Reason     string        `json:"reason,omitempty"`
	Comment    string        `json:"comment,omitempty"`
	At         time.Time     `json:"at"`
}

// RecordFeedbackOutput says whether the feedback was new.
type RecordFeedbackOutput struct {
	Created bool `json:"created"`
}

// CloseIncidentInput is everything the report and the training data need.
type CloseIncidentInput struct {
	Incident        incident.Incident       `json:"incident"`
	RunID           string                  `json:"runId"`
	Story           summary.Story           `json:"story"`
	Cards           []card.Card             `json:"cards"`
	Classification  incident.Classification `json:"classification"`
	Determination   incident.Determination  `json:"determination"`
	ClassifiedBy    string                  `json:"classifiedBy"`
	ClassifiedAt    time.Time               `json:"classifiedAt"`
	ModelVersion    string                  `json:"modelVersion"`
	PlaybookVersion string                  `json:"playbookVersion"`
	ClosedAt        time.Time               `json:"closedAt"`
}

// CloseIncidentOutput is the report.
type CloseIncidentOutput struct {
	ReportMarkdown string          `json:"reportMarkdown"`
	ReportJSON     json.RawMessage `json:"reportJson"`
}
