// Package connector applies approved actions to the outside world: Microsoft Defender for Endpoint,
// Microsoft Graph, a generic signed webhook, or a dry run that only records what would have run.
package connector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

// Request is one action to apply.
type Request struct {
	// IdempotencyKey is made in the workflow from (incident, card, action); the same key never applies
	// twice. Connectors pass it to targets that take one (webhook header Idempotency-Key).
	IdempotencyKey string      `json:"idempotencyKey"`
	TenantID       string      `json:"tenantId"`
	IncidentID     string      `json:"incidentId"`
	CardID         string      `json:"cardId"`
	Action         card.Action `json:"action"`
	// Entity is the full entity the card names (device ids, user ids, message ids, hashes...).
	Entity     incident.Entity   `json:"entity"`
	Parameters map[string]string `json:"parameters,omitempty"`
	// Principal approved it; Comment goes to the target where it takes one (machine action comment).
	Principal string `json:"principal"`
	Comment   string `json:"comment"`
}

// Result is what the target answered.
type Result struct {
	// ExternalID is the target's id of the action (machine action id, indicator id, ...).
	ExternalID string `json:"externalId,omitempty"`
	Message    string `json:"message,omitempty"`
}

// Connector applies actions.
type Connector interface {
	// Name identifies the connector in results and logs.
	Name() string
	// Supports reports whether the connector can apply the action.
	Supports(card.Action) bool
	// Apply applies the request; progress is called with a short note while a long action runs (the
	// activity heartbeats with it). Errors are *Error when the connector knows whether a retry can help.
	Apply(ctx context.Context, req Request, progress func(note string)) (Result, error)
}

// Error is a failure with what a retry can do about it.
type Error struct {
	// Permanent: forbidden, not found, bad request: retrying cannot help.
	Permanent bool
	// RetryAfter, when set, is how long the target asked us to wait (429 / 503 Retry-After).
	RetryAfter time.Duration
	// StatusCode is the HTTP status, when there was one.
	StatusCode int
	Message    string
	Err        error
}

func (e *Error) Error() string {
	s := e.Message
	if e.StatusCode != 0 {
		s = fmt.Sprintf("%s (HTTP %d)", s, e.StatusCode)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err says retrying cannot help.
func IsPermanent(err error) bool {
	var ce *Error
	return errors.As(err, &ce) && ce.Permanent
}

// RetryAfter returns the wait the target asked for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var ce *Error
	if errors.As(err, &ce) && ce.RetryAfter > 0 {
		return ce.RetryAfter, true
	}
	return 0, false
}
