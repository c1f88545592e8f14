package connector

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/card"
)

// DryRunRecord is what a dry run would have applied.
type DryRunRecord struct {
	IdempotencyKey string
	TenantID       string
	IncidentID     string
	CardID         string
	Action         card.Action
	EntityKey      string
	Parameters     map[string]string
	Principal      string
	RecordedAt     time.Time
}

// DryRunRecorder keeps dry-run records, one per idempotency key: created is false when the key was already
// recorded (the record is then left as it was).
type DryRunRecorder interface {
	RecordDryRun(ctx context.Context, r DryRunRecord) (created bool, err error)
}

// DryRun applies nothing: it records what would have run. It supports every applicable action and is the
// default in dev mode.
type DryRun struct {
	recorder DryRunRecorder
	logger   hclog.Logger
	now      func() time.Time
}

// NewDryRun builds the connector.
func NewDryRun(recorder DryRunRecorder, logger hclog.Logger) *DryRun {
	return &DryRun{recorder: recorder, logger: orNullLogger(logger).Named("dry-run"), now: time.Now}
}

// Name implements Connector.
func (d *DryRun) Name() string { return "dry-run" }

// Supports implements Connector.
func (d *DryRun) Supports(a card.Action) bool { return a.Applicable() }

// Apply implements Connector.
func (d *DryRun) Apply(ctx context.Context, req Request, progress func(note string)) (Result, error) {
	if !req.Action.Applicable() {
		return Result{}, permanentf("dry run: %q has nothing to apply", req.Action)
	}
	if req.IdempotencyKey == "" {
		return Result{}, permanentf("dry run: %s: the request has no idempotency key", req.Action)
	}
	if d.recorder == nil {
		return Result{}, permanentf("dry run: no recorder configured")
	}
	created, err := d.recorder.RecordDryRun(ctx, DryRunRecord{
		IdempotencyKey: req.IdempotencyKey,
		TenantID:       req.TenantID,
		IncidentID:     req.IncidentID,
		CardID:         req.CardID,
		Action:         req.Action,
		EntityKey:      req.Entity.Key(),
		Parameters:     maps.Clone(req.Parameters),
		Principal:      req.Principal,
		RecordedAt:     d.now().UTC(),
	})
	if err != nil {
		return Result{}, fmt.Errorf("dry run: record %s: %w", req.Action, err)
	}
	d.logger.Info("dry run", "action", req.Action, "entity", req.Entity.Key(), "incident", req.IncidentID,
		"card", req.CardID, "created", created)
	msg := fmt.Sprintf("dry run: would %s %s", req.Action, req.Entity.Name())
	if !created {
		msg += " (already recorded)"
	}
	return Result{ExternalID: req.IdempotencyKey, Message: msg}, nil
}
