// Package card is the guided response's vocabulary: a card recommends one action on one entity (or a
// classification, for triage), says why, and carries the state of the human decisions and of the action.
package card

import (
	"time"

	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
)

// Category is where a card stands in the response.
type Category string

// Categories, in the order the analyst sees them.
const (
	CategoryTriage        Category = "triage"
	CategoryContainment   Category = "containment"
	CategoryInvestigation Category = "investigation"
	CategoryRemediation   Category = "remediation"
)

// Status is the state of a card's action.
type Status string

// Statuses. proposed -> approved -> applying -> applied | failed; proposed -> rejected | expired;
// applied -> undone (time-boxed containment released, or undone on request).
const (
	StatusProposed Status = "proposed"
	StatusApproved Status = "approved"
	StatusRejected Status = "rejected"
	StatusApplying Status = "applying"
	StatusApplied  Status = "applied"
	StatusFailed   Status = "failed"
	StatusExpired  Status = "expired"
	StatusUndone   Status = "undone"
)

// Risk is how much harm a wrong application of the action does.
type Risk string

// Risks.
const (
	RiskLow    Risk = "low"
	RiskMedium Risk = "medium"
	RiskHigh   Risk = "high"
)

// Action names what a card does. Connectors implement actions; investigation actions have nothing to
// apply (the card carries a query or a procedure for the analyst).
type Action string

// Actions, named "<entity>.<verb>" after the products' own action names (Defender for Endpoint machine
// actions, Graph identity and email remediation actions, Defender indicators).
const (
	ActionDeviceIsolate               Action = "device.isolate"
	ActionDeviceRelease               Action = "device.release"
	ActionDeviceRestrictAppExecution  Action = "device.restrictAppExecution"
	ActionDeviceRemoveAppRestriction  Action = "device.removeAppRestriction"
	ActionDeviceRunAntivirusScan      Action = "device.runAntivirusScan"
	ActionDeviceCollectInvestigation  Action = "device.collectInvestigationPackage"
	ActionDeviceLiveResponse          Action = "device.initiateLiveResponse"
	ActionFileStopAndQuarantine       Action = "file.stopAndQuarantine"
	ActionIndicatorBlock              Action = "indicator.block" // file hash, IP, URL or domain
	ActionIndicatorRemove             Action = "indicator.remove"
	ActionUserDisable                 Action = "user.disable"
	ActionUserEnable                  Action = "user.enable"
	ActionUserRevokeSessions          Action = "user.revokeAllSessions"
	ActionUserForcePasswordReset      Action = "user.forcePasswordReset"
	ActionUserMarkCompromised         Action = "user.markAsCompromised"
	ActionUserRequireSignIn           Action = "user.requireSignInAgain"
	ActionEmailSoftDelete             Action = "email.softDelete"
	ActionEmailHardDelete             Action = "email.hardDelete"
	ActionEmailMoveToJunk             Action = "email.moveToJunk"
	ActionEmailMoveToInbox            Action = "email.moveToInbox"
	ActionEmailBlockSender            Action = "email.blockSender"
	ActionEmailUnblockSender          Action = "email.unblockSender"
	ActionOAuthAppRevoke              Action = "oauthApp.revoke"
	ActionProcessKill                 Action = "process.kill"
	ActionInvestigateHunt             Action = "investigation.huntingQuery"
	ActionInvestigateTimeline         Action = "investigation.timeline"
	ActionInvestigateSimilarEmails    Action = "investigation.viewSimilarEmails"
	ActionInvestigateSimilarIncidents Action = "investigation.viewSimilarIncidents"
	ActionTriageClassify              Action = "triage.classify"
)

// Applicable reports whether the action changes something through a connector (investigation and
// triage actions do not).
func (a Action) Applicable() bool {
	switch a {
	case ActionInvestigateHunt, ActionInvestigateTimeline, ActionInvestigateSimilarEmails,
		ActionInvestigateSimilarIncidents, ActionTriageClassify:
		return false
	}
	return a != ""
}

// EntityRef names the entity a card acts on.
type EntityRef struct {
	Key  string              `json:"key"`
	Kind incident.EntityKind `json:"kind"`
	Name string              `json:"name"`
}

// Card is one recommendation.
type Card struct {
	// ID is stable: the same incident, rule, action and entity give the same ID on every generation.
	ID       string     `json:"id"`
	Category Category   `json:"category"`
	Title    string     `json:"title"`
	Action   Action     `json:"action"`
	Entity   *EntityRef `json:"entity,omitempty"`
	// Why lists the reasons, each naming the alerts, verdicts and roles that led to the card.
	Why      []string `json:"why"`
	AlertIDs []string `json:"alertIds,omitempty"`
	Risk     Risk     `json:"risk"`
	// Reversible says whether the action can be undone, UndoAction how, Undo in words.
	Reversible bool   `json:"reversible"`
	UndoAction Action `json:"undoAction,omitempty"`
	Undo       string `json:"undo,omitempty"`
	// TimeBox, when set on a reversible containment, undoes the action automatically after it unless the
	// analyst extends it.
	TimeBox time.Duration `json:"timeBox,omitempty"`
	// Parameters of the action, e.g. isolationType=Full, scanType=Quick, indicatorType=FileSha256.
	Parameters map[string]string `json:"parameters,omitempty"`
	// Query is an advanced-hunting KQL query (investigation cards: hunting, similar emails).
	Query      string          `json:"query,omitempty"`
	Permission rbac.Permission `json:"permission"`
	// ReactID is the RE&CT response action (e.g. RA3101), D3FEND the D3FEND technique (e.g. D3-NI).
	ReactID string `json:"reactId,omitempty"`
	D3FEND  string `json:"d3fend,omitempty"`
	// Where the card came from.
	PlaybookID      string `json:"playbookId,omitempty"`
	PlaybookVersion string `json:"playbookVersion,omitempty"`
	RuleID          string `json:"ruleId,omitempty"`
	// Rank orders cards within a category (lower first); Confidence is how sure the ranking is (0..1).
	Rank       int     `json:"rank"`
	Confidence float64 `json:"confidence"`
	// Triage is set on the triage card only.
	Triage *TriageSuggestion `json:"triage,omitempty"`
	// Unsupported says why no connector of this deployment applies the action (live mode without the
	// webhook for email.blockSender, say): the card is shown unavailable and cannot be approved. Empty
	// when a connector applies it.
	Unsupported string `json:"unsupported,omitempty"`

	Status    Status     `json:"status"`
	Decisions []Decision `json:"decisions,omitempty"`
	// RequestedBy is the first approver; with four-eyes the others must be different principals.
	RequestedBy       string   `json:"requestedBy,omitempty"`
	Approvers         []string `json:"approvers,omitempty"`
	ApprovalsRequired int      `json:"approvalsRequired,omitempty"`
	// ExpiresAt: a proposal not decided by then expires. UndoAt: a time-boxed action is undone then.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	UndoAt    time.Time `json:"undoAt,omitzero"`
	Result    *Result   `json:"result,omitempty"`
	// UndoResult is what undoing the action gave.
	UndoResult *Result `json:"undoResult,omitempty"`
}

// Terminal reports whether nothing more will happen to the card by itself.
func (c *Card) Terminal() bool {
	switch c.Status {
	case StatusRejected, StatusFailed, StatusExpired, StatusUndone:
		return true
	case StatusApplied:
		return c.UndoAt.IsZero()
	}
	return false
}

// TriageSuggestion is the suggested classification of the incident.
type TriageSuggestion struct {
	Classification incident.Classification `json:"classification"`
	Determination  incident.Determination  `json:"determination"`
	Confidence     float64                 `json:"confidence"`
	// Unsure is set when the confidence is below the threshold: the card says so rather than guessing.
	Unsure       bool     `json:"unsure"`
	ModelVersion string   `json:"modelVersion"`
	Why          []string `json:"why"`
}

// DecisionKind is what a principal decided on a card.
type DecisionKind string

// Decision kinds.
const (
	DecisionApprove DecisionKind = "approve"
	DecisionReject  DecisionKind = "reject"
	DecisionExtend  DecisionKind = "extend"
	DecisionUndo    DecisionKind = "undo"
)

// Decision is one human decision on a card.
type Decision struct {
	Kind      DecisionKind `json:"kind"`
	Principal string       `json:"principal"`
	At        time.Time    `json:"at"`
	Comment   string       `json:"comment,omitempty"`
	// Via says how it arrived: "update" (API, approval systems) or "signal" (Temporal UI operators).
	Via string `json:"via"`
}

// Result is what applying (or undoing) the action gave.
type Result struct {
	Connector  string    `json:"connector"`
	ExternalID string    `json:"externalId,omitempty"`
	Message    string    `json:"message,omitempty"`
	Error      string    `json:"error,omitempty"`
	Attempts   int       `json:"attempts,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
}
