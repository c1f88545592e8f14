package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/card"
)

// ActionStatus is where an action of the action log stands.
type ActionStatus string

// Action statuses: applying until FinishAction records applied or failed.
const (
	ActionApplying ActionStatus = "applying"
	ActionApplied  ActionStatus = "applied"
	ActionFailed   ActionStatus = "failed"
)

// ActionStart is an action about to be applied, as BeginAction records it.
type ActionStart struct {
	// IdempotencyKey is made in the workflow from (incident, card, action): one key, one side effect.
	IdempotencyKey string
	TenantID       string
	IncidentID     string
	CardID         string
	Action         card.Action
	Connector      string
	// Principal is who approved it.
	Principal string
}

// ActionRecord is the action log's entry of one action, by idempotency key.
type ActionRecord struct {
	IdempotencyKey string
	TenantID       string
	IncidentID     string
	CardID         string
	Action         card.Action
	Connector      string
	// Status is ActionApplying until FinishAction, then ActionApplied or ActionFailed.
	Status     ActionStatus
	ExternalID string
	Message    string
	Error      string
	// Attempts counts the BeginAction calls that found the action applying (1 for the first).
	Attempts  int
	StartedAt time.Time
	// FinishedAt is zero while the action is applying.
	FinishedAt time.Time
	Principal  string
}

// Finished reports whether the action's outcome is recorded (applied or failed).
func (r ActionRecord) Finished() bool {
	return r.Status == ActionApplied || r.Status == ActionFailed
}

// Result is the recorded outcome as a card shows it; nil while the action is applying.
func (r ActionRecord) Result() *card.Result {
	if !r.Finished() {
		return nil
	}
	return &card.Result{
		Connector: r.Connector, ExternalID: r.ExternalID, Message: r.Message, Error: r.Error,
		Attempts: r.Attempts, FinishedAt: r.FinishedAt,
	}
}

const (
	insertAction = `
INSERT INTO action_log (idempotency_key, tenant_id, incident_id, card_id, action, connector, principal)
VALUES (:idempotency_key, :tenant_id, :incident_id, :card_id, :action, :connector, :principal)
ON CONFLICT (idempotency_key) DO NOTHING`

	actionColumns = `
	idempotency_key, tenant_id, incident_id, card_id, action, connector, status, external_id, message,
	error, attempts, started_at, finished_at, principal`

	selectAction = `SELECT` + actionColumns + `
FROM action_log
WHERE idempotency_key = :idempotency_key`

	lockAction = selectAction + `
FOR UPDATE`

	// retryAction counts one more attempt of an action whose earlier attempt did not finish.
	retryAction = `
UPDATE action_log SET attempts = attempts + 1
WHERE idempotency_key = :idempotency_key AND status = 'applying'
RETURNING` + actionColumns

	finishAction = `
UPDATE action_log SET
	status = :status, external_id = :external_id, message = :message, error = :error, finished_at = now()
WHERE idempotency_key = :idempotency_key AND status = 'applying'`
)

type actionRow struct {
	Key        string     `db:"idempotency_key"`
	TenantID   string     `db:"tenant_id"`
	IncidentID string     `db:"incident_id"`
	CardID     string     `db:"card_id"`
	Action     string     `db:"action"`
	Connector  string     `db:"connector"`
	Status     string     `db:"status"`
	ExternalID string     `db:"external_id"`
	Message    string     `db:"message"`
	Error      string     `db:"error"`
	Attempts   int        `db:"attempts"`
	StartedAt  time.Time  `db:"started_at"`
	FinishedAt *time.Time `db:"finished_at"`
	Principal  string     `db:"principal"`
}

func (r actionRow) record() ActionRecord {
	return ActionRecord{
		IdempotencyKey: r.Key, TenantID: r.TenantID, IncidentID: r.IncidentID, CardID: r.CardID,
		Action: card.Action(r.Action), Connector: r.Connector, Status: ActionStatus(r.Status),
		ExternalID: r.ExternalID, Message: r.Message, Error: r.Error, Attempts: r.Attempts,
		StartedAt: r.StartedAt.UTC(), FinishedAt: timeOf(r.FinishedAt), Principal: r.Principal,
	}
}

// actionKey is the named-parameter argument of queries on one action.
type actionKey struct {
	Key string `db:"idempotency_key"`
}

// BeginAction records that applying an action begins, under the idempotency key the workflow made for
// it, and returns nil: go ahead and apply. When the key is already recorded it returns that record
// instead, and the caller must not apply twice:
//   - Status applied or failed: the outcome is known; return it (Result) without applying.
//   - Status applying: an earlier attempt began and did not finish (the worker died, the activity
//     timed out), so its outcome is unknown; this call counted one more attempt. Apply again with the
//     same idempotency key, which the connector dedupes, then FinishAction.
//
// The same key for another tenant, incident, card or action is ErrDuplicate.
func (s *Store) BeginAction(ctx context.Context, in ActionStart) (*ActionRecord, error) {
	key := in.IdempotencyKey
	if err := required("action", "IdempotencyKey", key, "TenantID", in.TenantID, "IncidentID", in.IncidentID,
		"CardID", in.CardID, "Action", string(in.Action)); err != nil {
		return nil, fmt.Errorf("begin action: %w", err)
	}
	row := actionRow{
		Key: key, TenantID: in.TenantID, IncidentID: in.IncidentID, CardID: in.CardID,
		Action: string(in.Action), Connector: in.Connector, Principal: in.Principal,
	}
	var existing *ActionRecord
	err := s.inTx(ctx, false, func(tx sqlx.ExtContext) error {
		n, err := namedExec(ctx, tx, insertAction, row)
		if err != nil || n == 1 {
			return err
		}
		var stored actionRow
		if err := namedGet(ctx, tx, lockAction, actionKey{key}, &stored); err != nil {
			return fmt.Errorf("read the recorded action: %w", err)
		}
		if stored.TenantID != row.TenantID || stored.IncidentID != row.IncidentID || stored.CardID != row.CardID ||
			stored.Action != row.Action {
			return fmt.Errorf("%w: the key already records %s on card %s of %s/%s; make a new key per action",
				ErrDuplicate, stored.Action, stored.CardID, stored.TenantID, stored.IncidentID)
		}
		if stored.Status == string(ActionApplying) {
			if err := namedGet(ctx, tx, retryAction, actionKey{key}, &stored); err != nil {
				return fmt.Errorf("count the attempt: %w", err)
			}
		}
		rec := stored.record()
		existing = &rec
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("begin action %s: %w", key, err)
	}
	if existing != nil {
		s.logger.Info("action already begun", "key", key, "action", in.Action, "card", in.CardID,
			"status", existing.Status, "attempts", existing.Attempts)
	}
	return existing, nil
}

// FinishAction records the outcome of an action BeginAction began: status is ActionApplied or
// ActionFailed. Recording the same outcome again does nothing; another outcome for a finished
// action is ErrDuplicate; a key BeginAction never recorded is ErrNotFound.
func (s *Store) FinishAction(ctx context.Context, key string, status ActionStatus, externalID, message, errText string) error {
	if key == "" {
		return fmt.Errorf("finish action: %w: key is empty", ErrInvalid)
	}
	if status != ActionApplied && status != ActionFailed {
		return fmt.Errorf("finish action %s: %w: status %q is neither %q nor %q", key, ErrInvalid, status,
			ActionApplied, ActionFailed)
	}
	row := actionRow{Key: key, Status: string(status), ExternalID: externalID, Message: message, Error: errText}
	n, err := namedExec(ctx, s.db, finishAction, row)
	if err != nil {
		return fmt.Errorf("finish action %s: %w", key, err)
	}
	if n == 1 {
		s.logger.Debug("finished action", "key", key, "status", status, "external_id", externalID)
		return nil
	}
	var stored actionRow
	if err := namedGet(ctx, s.db, selectAction, actionKey{key}, &stored); err != nil {
		return fmt.Errorf("finish action %s: %w", key, err)
	}
	if stored.Status != row.Status || stored.ExternalID != externalID || stored.Message != message ||
		stored.Error != errText {
		return fmt.Errorf("finish action %s: %w: it already finished as %s (external id %q)", key, ErrDuplicate,
			stored.Status, stored.ExternalID)
	}
	return nil
}

// GetAction returns the action log's record of a key; ErrNotFound when there is none.
func (s *Store) GetAction(ctx context.Context, key string) (ActionRecord, error) {
	var row actionRow
	if err := namedGet(ctx, s.db, selectAction, actionKey{key}, &row); err != nil {
		return ActionRecord{}, fmt.Errorf("get action %s: %w", key, err)
	}
	return row.record(), nil
}

// DryRun is an action a dry-run connector would have applied.
type DryRun struct {
	// IdempotencyKey is the key the action would have been applied with.
	IdempotencyKey string
	TenantID       string
	IncidentID     string
	CardID         string
	Action         card.Action
	EntityKey      string
	Parameters     map[string]string
	Principal      string
	// RecordedAt is when; zero means now. Stored in UTC at microsecond precision.
	RecordedAt time.Time
}

const (
	insertDryRun = `
INSERT INTO dry_run_actions (
	idempotency_key, tenant_id, incident_id, card_id, action, entity_key, parameters, principal, recorded_at)
VALUES (
	:idempotency_key, :tenant_id, :incident_id, :card_id, :action, :entity_key, CAST(:parameters AS jsonb),
	:principal, COALESCE(CAST(:recorded_at AS timestamptz), now()))
ON CONFLICT (idempotency_key) DO NOTHING`

	dryRunColumns = `
SELECT idempotency_key, tenant_id, incident_id, card_id, action, entity_key, parameters, principal, recorded_at
FROM dry_run_actions`

	selectDryRun = dryRunColumns + `
WHERE idempotency_key = :idempotency_key`

	listDryRuns = dryRunColumns + `
WHERE tenant_id = :tenant_id AND incident_id = :incident_id
ORDER BY recorded_at, idempotency_key`

	countDryRuns = `
SELECT count(*) FROM dry_run_actions WHERE idempotency_key = :idempotency_key`
)

type dryRunRow struct {
	Key        string     `db:"idempotency_key"`
	TenantID   string     `db:"tenant_id"`
	IncidentID string     `db:"incident_id"`
	CardID     string     `db:"card_id"`
	Action     string     `db:"action"`
	EntityKey  string     `db:"entity_key"`
	Parameters string     `db:"parameters"`
	Principal  string     `db:"principal"`
	RecordedAt *time.Time `db:"recorded_at"`
}

func (r dryRunRow) dryRun() (DryRun, error) {
	var params map[string]string
	if err := json.Unmarshal([]byte(r.Parameters), &params); err != nil {
		return DryRun{}, fmt.Errorf("dry run %s: parameters: %w", r.Key, err)
	}
	if len(params) == 0 {
		params = nil
	}
	return DryRun{
		IdempotencyKey: r.Key, TenantID: r.TenantID, IncidentID: r.IncidentID, CardID: r.CardID,
		Action: card.Action(r.Action), EntityKey: r.EntityKey, Parameters: params, Principal: r.Principal,
		RecordedAt: timeOf(r.RecordedAt),
	}, nil
}

// RecordDryRun records an action a dry run would have applied, once per key: created is false when the
// key was recorded before with the same action (a retry), and the error is ErrDuplicate when it was
// recorded with another. RecordedAt is not part of the comparison.
func (s *Store) RecordDryRun(ctx context.Context, d DryRun) (created bool, err error) {
	if err := required("dry run", "IdempotencyKey", d.IdempotencyKey, "TenantID", d.TenantID, "IncidentID", d.IncidentID,
		"CardID", d.CardID, "Action", string(d.Action)); err != nil {
		return false, fmt.Errorf("record dry run: %w", err)
	}
	params := d.Parameters
	if params == nil {
		params = map[string]string{}
	}
	paramJSON, err := json.Marshal(params) // keys sorted
	if err != nil {
		return false, fmt.Errorf("record dry run %s: %w: parameters: %w", d.IdempotencyKey, ErrInvalid, err)
	}
	row := dryRunRow{
		Key: d.IdempotencyKey, TenantID: d.TenantID, IncidentID: d.IncidentID, CardID: d.CardID, Action: string(d.Action),
		EntityKey: d.EntityKey, Parameters: string(paramJSON), Principal: d.Principal,
		RecordedAt: nullTime(d.RecordedAt),
	}
	n, err := namedExec(ctx, s.db, insertDryRun, row)
	if err != nil {
		return false, fmt.Errorf("record dry run %s: %w", d.IdempotencyKey, err)
	}
	if n == 1 {
		s.logger.Info("dry run: would apply", "key", d.IdempotencyKey, "action", d.Action, "entity", d.EntityKey,
			"card", d.CardID)
		return true, nil
	}
	var stored dryRunRow
	if err := namedGet(ctx, s.db, selectDryRun, actionKey{d.IdempotencyKey}, &stored); err != nil {
		return false, fmt.Errorf("record dry run %s: read the recorded one: %w", d.IdempotencyKey, err)
	}
	prev, err := stored.dryRun()
	if err != nil {
		return false, fmt.Errorf("record dry run %s: %w", d.IdempotencyKey, err)
	}
	if prev.TenantID != d.TenantID || prev.IncidentID != d.IncidentID || prev.CardID != d.CardID ||
		prev.Action != d.Action || prev.EntityKey != d.EntityKey || prev.Principal != d.Principal ||
		!maps.Equal(prev.Parameters, d.Parameters) {
		return false, fmt.Errorf("record dry run %s: %w: the key already records %s on %q (card %s); "+
			"make a new key per action", d.IdempotencyKey, ErrDuplicate, prev.Action, prev.EntityKey, prev.CardID)
	}
	return false, nil
}

// CountDryRuns returns how many dry-run records the key has: 1 once recorded, else 0.
func (s *Store) CountDryRuns(ctx context.Context, key string) (int, error) {
	var n int
	if err := namedGet(ctx, s.db, countDryRuns, actionKey{key}, &n); err != nil {
		return 0, fmt.Errorf("count dry runs %s: %w", key, err)
	}
	return n, nil
}

// ListDryRuns returns the actions a dry run of an incident would have applied, oldest first; none is
// not an error.
func (s *Store) ListDryRuns(ctx context.Context, tenantID, incidentID string) ([]DryRun, error) {
	var rows []dryRunRow
	if err := namedSelect(ctx, s.db, listDryRuns, incidentKey{tenantID, incidentID}, &rows); err != nil {
		return nil, fmt.Errorf("list dry runs of %s/%s: %w", tenantID, incidentID, err)
	}
	out := make([]DryRun, len(rows))
	for i, r := range rows {
		d, err := r.dryRun()
		if err != nil {
			return nil, fmt.Errorf("list dry runs of %s/%s: %w", tenantID, incidentID, err)
		}
		out[i] = d
	}
	return out, nil
}
