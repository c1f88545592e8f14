package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/guided-response/guided/incident"
)

// DefaultTaskQueue is the task queue the worker polls and the starter starts workflows on.
const DefaultTaskQueue = "guided-response"

// Message names: the only place these strings are written.
const (
	// SignalIncidentUpdated carries a newer version of the incident (a re-ingest) to its running workflow.
	SignalIncidentUpdated = "incident-updated"
	// QueryStatus answers StatusOutput.
	QueryStatus = "status"
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

// Phases. Later phases (summarizing, awaiting decisions, applying) are added by the guided response.
const (
	PhaseIngesting Phase = "ingesting"
	PhaseOpen      Phase = "open"
	PhaseClosed    Phase = "closed"
)

// IncidentInput starts an incident's workflow.
type IncidentInput struct {
	Incident incident.Incident `json:"incident"`
	// MaxUpdatesBeforeContinueAsNew bounds history growth from re-ingests; 0 means the default.
	MaxUpdatesBeforeContinueAsNew int `json:"maxUpdatesBeforeContinueAsNew,omitempty"`
	// Carried across continue-as-new.
	IngestCount int `json:"ingestCount,omitempty"`
}

// IncidentResult is what a closed incident's workflow returns.
type IncidentResult struct {
	TenantID    string `json:"tenantId"`
	IncidentID  string `json:"incidentId"`
	Status      string `json:"status"`
	IngestCount int    `json:"ingestCount"`
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
}
