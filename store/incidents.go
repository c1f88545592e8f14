package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/guided-response/guided/incident"
)

// UpsertResult says what UpsertIncident did.
type UpsertResult struct {
	// Created is set when the incident was new.
	Created bool
	// Changed is set when anything stored changed (always with Created). Re-ingesting the same version,
	// or an older one, changes nothing.
	Changed bool
	// Stale is set when the ingested version was older (by LastUpdatedAt) than the stored one, which was
	// kept.
	Stale bool
}

// Batch sizes of multi-row INSERTs: under PostgreSQL's 65535 parameters with room to spare.
const (
	alertBatch  = 1000
	entityBatch = 1000
)

const (
	insertIncident = `
INSERT INTO incidents (
	tenant_id, incident_id, title, description, severity, status, classification, determination,
	assigned_to, custom_tags, system_tags, web_url, redirect_incident_id, source, created_at,
	last_updated_at, raw)
VALUES (
	:tenant_id, :incident_id, :title, :description, :severity, :status, :classification, :determination,
	:assigned_to, :custom_tags, :system_tags, :web_url, :redirect_incident_id, :source, :created_at,
	:last_updated_at, CAST(:raw AS jsonb))
ON CONFLICT (tenant_id, incident_id) DO NOTHING
RETURNING incident_id`

	// lockIncident locks the stored incident for the rest of the transaction and compares it with the
	// ingested version. Times compare at the database's precision (microseconds).
	lockIncident = `
SELECT
	last_updated_at > CAST(:last_updated_at AS timestamptz) AS stale,
	raw = CAST(:raw AS jsonb) AND source = :source AS same
FROM incidents
WHERE tenant_id = :tenant_id AND incident_id = :incident_id
FOR UPDATE`

	updateIncident = `
UPDATE incidents SET
	title = :title, description = :description, severity = :severity, status = :status,
	classification = :classification, determination = :determination, assigned_to = :assigned_to,
	custom_tags = :custom_tags, system_tags = :system_tags, web_url = :web_url,
	redirect_incident_id = :redirect_incident_id, source = :source, created_at = :created_at,
	last_updated_at = :last_updated_at, raw = CAST(:raw AS jsonb),
	ingested_at = now(), ingest_count = ingest_count + 1
WHERE tenant_id = :tenant_id AND incident_id = :incident_id`

	touchIncident = `
UPDATE incidents SET ingested_at = now(), ingest_count = ingest_count + 1
WHERE tenant_id = :tenant_id AND incident_id = :incident_id`

	// deleteGoneAlerts deletes the alerts no longer part of the incident, and their entities (cascade).
	deleteGoneAlerts = `
DELETE FROM alerts
WHERE tenant_id = :tenant_id AND incident_id = :incident_id AND alert_id <> ALL (:alert_ids)`

	// upsertAlerts writes the alerts. An alert id is unique within a tenant: an alert that another
	// incident held moves to this one (Defender merges incidents), its entities with it (ON UPDATE
	// CASCADE).
	upsertAlerts = `
INSERT INTO alerts (
	tenant_id, alert_id, incident_id, ordinal, title, description, severity, status, classification,
	determination, category, detection_source, detector_id, service_source, mitre_techniques,
	threat_family, recommended_actions, web_url, created_at, first_activity_at, last_activity_at)
VALUES (
	:tenant_id, :alert_id, :incident_id, :ordinal, :title, :description, :severity, :status,
	:classification, :determination, :category, :detection_source, :detector_id, :service_source,
	:mitre_techniques, :threat_family, :recommended_actions, :web_url, :created_at, :first_activity_at,
	:last_activity_at)
ON CONFLICT (tenant_id, alert_id) DO UPDATE SET
	incident_id = EXCLUDED.incident_id, ordinal = EXCLUDED.ordinal, title = EXCLUDED.title,
	description = EXCLUDED.description, severity = EXCLUDED.severity, status = EXCLUDED.status,
	classification = EXCLUDED.classification, determination = EXCLUDED.determination,
	category = EXCLUDED.category, detection_source = EXCLUDED.detection_source,
	detector_id = EXCLUDED.detector_id, service_source = EXCLUDED.service_source,
	mitre_techniques = EXCLUDED.mitre_techniques, threat_family = EXCLUDED.threat_family,
	recommended_actions = EXCLUDED.recommended_actions, web_url = EXCLUDED.web_url,
	created_at = EXCLUDED.created_at, first_activity_at = EXCLUDED.first_activity_at,
	last_activity_at = EXCLUDED.last_activity_at`

	deleteEntities = `
DELETE FROM entities WHERE tenant_id = :tenant_id AND incident_id = :incident_id`

	insertEntities = `
INSERT INTO entities (
	tenant_id, incident_id, alert_id, ordinal, entity_key, kind, name, verdict, remediation_status,
	roles, detailed_roles, tags, details, created_at)
VALUES (
	:tenant_id, :incident_id, :alert_id, :ordinal, :entity_key, :kind, :name, :verdict,
	:remediation_status, :roles, :detailed_roles, :tags, CAST(:details AS jsonb), :created_at)`

	selectIncident = `
SELECT
	tenant_id, incident_id, title, description, severity, status, classification, determination,
	assigned_to, custom_tags, system_tags, web_url, redirect_incident_id, source, created_at,
	last_updated_at, first_ingested_at, ingested_at, ingest_count
FROM incidents
WHERE tenant_id = :tenant_id AND incident_id = :incident_id`

	selectAlerts = `
SELECT
	tenant_id, alert_id, incident_id, ordinal, title, description, severity, status, classification,
	determination, category, detection_source, detector_id, service_source, mitre_techniques,
	threat_family, recommended_actions, web_url, created_at, first_activity_at, last_activity_at
FROM alerts
WHERE tenant_id = :tenant_id AND incident_id = :incident_id
ORDER BY ordinal, alert_id`

	selectEntities = `
SELECT
	tenant_id, incident_id, alert_id, ordinal, entity_key, kind, name, verdict, remediation_status,
	roles, detailed_roles, tags, details, created_at
FROM entities
WHERE tenant_id = :tenant_id AND incident_id = :incident_id
ORDER BY alert_id, ordinal`

	// listIncidents pages through a tenant's incidents, most recently updated first, with a keyset
	// cursor (the last row's last_updated_at and incident_id).
	listIncidents = `
SELECT
	i.tenant_id, i.incident_id, i.title, i.severity, i.status, i.classification, i.determination,
	i.assigned_to, i.source, i.created_at, i.last_updated_at, i.first_ingested_at, i.ingested_at,
	i.ingest_count,
	(SELECT count(*) FROM alerts a WHERE a.tenant_id = i.tenant_id AND a.incident_id = i.incident_id)
		AS alert_count
FROM incidents i
WHERE i.tenant_id = :tenant_id
	AND (:severity = '' OR i.severity = :severity)
	AND (:status = '' OR i.status = :status)
	AND (NOT :paged OR (i.last_updated_at, i.incident_id) < (:after_updated_at, :after_id))
ORDER BY i.last_updated_at DESC, i.incident_id DESC
LIMIT :limit`
)

// incidentKey is the named-parameter argument of queries on one incident.
type incidentKey struct {
	TenantID   string `db:"tenant_id"`
	IncidentID string `db:"incident_id"`
}

type incidentRow struct {
	TenantID           string         `db:"tenant_id"`
	IncidentID         string         `db:"incident_id"`
	Title              string         `db:"title"`
	Description        string         `db:"description"`
	Severity           string         `db:"severity"`
	Status             string         `db:"status"`
	Classification     string         `db:"classification"`
	Determination      string         `db:"determination"`
	AssignedTo         string         `db:"assigned_to"`
	CustomTags         pq.StringArray `db:"custom_tags"`
	SystemTags         pq.StringArray `db:"system_tags"`
	WebURL             string         `db:"web_url"`
	RedirectIncidentID string         `db:"redirect_incident_id"`
	Source             string         `db:"source"`
	CreatedAt          time.Time      `db:"created_at"`
	LastUpdatedAt      time.Time      `db:"last_updated_at"`
	// Raw is the native JSON, sent as text (lib/pq would send []byte as bytea).
	Raw             string    `db:"raw"`
	FirstIngestedAt time.Time `db:"first_ingested_at"`
	IngestedAt      time.Time `db:"ingested_at"`
	IngestCount     int       `db:"ingest_count"`
}

type alertRow struct {
	TenantID           string         `db:"tenant_id"`
	AlertID            string         `db:"alert_id"`
	IncidentID         string         `db:"incident_id"`
	Ordinal            int            `db:"ordinal"`
	Title              string         `db:"title"`
	Description        string         `db:"description"`
	Severity           string         `db:"severity"`
	Status             string         `db:"status"`
	Classification     string         `db:"classification"`
	Determination      string         `db:"determination"`
	Category           string         `db:"category"`
	DetectionSource    string         `db:"detection_source"`
	DetectorID         string         `db:"detector_id"`
	ServiceSource      string         `db:"service_source"`
	MitreTechniques    pq.StringArray `db:"mitre_techniques"`
	ThreatFamily       string         `db:"threat_family"`
	RecommendedActions string         `db:"recommended_actions"`
	WebURL             string         `db:"web_url"`
	CreatedAt          time.Time      `db:"created_at"`
	FirstActivityAt    *time.Time     `db:"first_activity_at"`
	LastActivityAt     *time.Time     `db:"last_activity_at"`
}

type entityRow struct {
	TenantID          string         `db:"tenant_id"`
	IncidentID        string         `db:"incident_id"`
	AlertID           string         `db:"alert_id"`
	Ordinal           int            `db:"ordinal"`
	EntityKey         string         `db:"entity_key"`
	Kind              string         `db:"kind"`
	Name              string         `db:"name"`
	Verdict           string         `db:"verdict"`
	RemediationStatus string         `db:"remediation_status"`
	Roles             pq.StringArray `db:"roles"`
	DetailedRoles     pq.StringArray `db:"detailed_roles"`
	Tags              pq.StringArray `db:"tags"`
	// Details is the JSON of the typed detail, nil for SQL NULL.
	Details   *string    `db:"details"`
	CreatedAt *time.Time `db:"created_at"`
}

// UpsertIncident stores an ingested incident in one transaction: the incident row is inserted or
// updated (never duplicated), its alerts are upserted, the entities of each alert replaced, and alerts
// no longer part of the incident deleted. A version older (by LastUpdatedAt) than the stored one is
// ignored and reported as Stale; the same version again only counts the ingest.
//
// Times are stored at microsecond precision; Source is stored as the format of the accepted version.
func (s *Store) UpsertIncident(ctx context.Context, inc *incident.Incident) (UpsertResult, error) {
	if inc == nil {
		return UpsertResult{}, fmt.Errorf("upsert incident: %w: nil incident", ErrInvalid)
	}
	rows, err := toRows(inc)
	if err != nil {
		return UpsertResult{}, fmt.Errorf("upsert incident %s/%s: %w", inc.TenantID, inc.ID, err)
	}
	var res UpsertResult
	err = s.inTx(ctx, false, func(tx sqlx.ExtContext) error {
		res, err = upsert(ctx, tx, rows)
		return err
	})
	if err != nil {
		return UpsertResult{}, fmt.Errorf("upsert incident %s/%s: %w", inc.TenantID, inc.ID, err)
	}
	s.logger.Debug("stored incident", "tenant", inc.TenantID, "incident", inc.ID, "created", res.Created,
		"changed", res.Changed, "stale", res.Stale, "alerts", len(rows.alerts), "entities", len(rows.entities))
	return res, nil
}

// incidentRows is an incident as rows.
type incidentRows struct {
	incident incidentRow
	alerts   []alertRow
	entities []entityRow
}

func upsert(ctx context.Context, tx sqlx.ExtContext, rows incidentRows) (UpsertResult, error) {
	key := incidentKey{TenantID: rows.incident.TenantID, IncidentID: rows.incident.IncidentID}

	var stored struct {
		Stale bool `db:"stale"`
		Same  bool `db:"same"`
	}
	for attempt := 1; ; attempt++ {
		var created []string
		if err := namedSelect(ctx, tx, insertIncident, rows.incident, &created); err != nil {
			return UpsertResult{}, fmt.Errorf("insert: %w", err)
		}
		if len(created) == 1 {
			if err := writeChildren(ctx, tx, rows, false); err != nil {
				return UpsertResult{}, err
			}
			return UpsertResult{Created: true, Changed: true}, nil
		}
		// It exists (ON CONFLICT DO NOTHING waited for a concurrent insert to commit, if any); lock it,
		// unless it was deleted in between: then insert again.
		err := namedGet(ctx, tx, lockIncident, rows.incident, &stored)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNotFound) || attempt == 2 {
			return UpsertResult{}, fmt.Errorf("lock: %w", err)
		}
	}
	switch {
	case stored.Stale:
		return UpsertResult{Stale: true}, nil
	case stored.Same:
		if _, err := namedExec(ctx, tx, touchIncident, key); err != nil {
			return UpsertResult{}, fmt.Errorf("update: %w", err)
		}
		return UpsertResult{}, nil
	}
	if _, err := namedExec(ctx, tx, updateIncident, rows.incident); err != nil {
		return UpsertResult{}, fmt.Errorf("update: %w", err)
	}
	if err := writeChildren(ctx, tx, rows, true); err != nil {
		return UpsertResult{}, err
	}
	return UpsertResult{Changed: true}, nil
}

// writeChildren writes the alerts and entities of an incident; replace first removes the alerts a
// previous version had and this one has not.
func writeChildren(ctx context.Context, tx sqlx.ExtContext, rows incidentRows, replace bool) error {
	if replace {
		ids := make(pq.StringArray, len(rows.alerts))
		for i, a := range rows.alerts {
			ids[i] = a.AlertID
		}
		arg := struct {
			incidentKey
			AlertIDs pq.StringArray `db:"alert_ids"`
		}{incidentKey{rows.incident.TenantID, rows.incident.IncidentID}, ids}
		if _, err := namedExec(ctx, tx, deleteGoneAlerts, arg); err != nil {
			return fmt.Errorf("delete alerts: %w", err)
		}
	}
	for _, batch := range chunks(rows.alerts, alertBatch) {
		if _, err := namedExec(ctx, tx, upsertAlerts, batch); err != nil {
			return fmt.Errorf("upsert alerts: %w", err)
		}
	}
	// Replace the entities after the alerts are written: entities of an alert that moved in from another
	// incident have followed it here (ON UPDATE CASCADE), so this also clears theirs.
	key := incidentKey{rows.incident.TenantID, rows.incident.IncidentID}
	if _, err := namedExec(ctx, tx, deleteEntities, key); err != nil {
		return fmt.Errorf("delete entities: %w", err)
	}
	for _, batch := range chunks(rows.entities, entityBatch) {
		if _, err := namedExec(ctx, tx, insertEntities, batch); err != nil {
			return fmt.Errorf("insert entities: %w", err)
		}
	}
	return nil
}

// GetIncident rebuilds an incident, its alerts and their entities from the rows: what UpsertIncident
// stored last, with times in UTC at microsecond precision and empty lists as nil. ErrNotFound when
// there is no such incident.
func (s *Store) GetIncident(ctx context.Context, tenantID, incidentID string) (*incident.Incident, error) {
	key := incidentKey{TenantID: tenantID, IncidentID: incidentID}
	var (
		inc      incidentRow
		alerts   []alertRow
		entities []entityRow
	)
	err := s.inTx(ctx, true, func(tx sqlx.ExtContext) error {
		if err := namedGet(ctx, tx, selectIncident, key, &inc); err != nil {
			return err
		}
		if err := namedSelect(ctx, tx, selectAlerts, key, &alerts); err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		if err := namedSelect(ctx, tx, selectEntities, key, &entities); err != nil {
			return fmt.Errorf("entities: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get incident %s/%s: %w", tenantID, incidentID, err)
	}
	out, err := fromRows(inc, alerts, entities)
	if err != nil {
		return nil, fmt.Errorf("get incident %s/%s: %w", tenantID, incidentID, err)
	}
	return out, nil
}

// Paging of ListIncidents.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// ListFilter selects the incidents ListIncidents returns.
type ListFilter struct {
	// TenantID is required.
	TenantID string
	// Severity and Status, when set, keep only incidents with that value.
	Severity incident.Severity
	Status   incident.Status
	// Limit is the page size: 0 means DefaultListLimit, more than MaxListLimit means MaxListLimit.
	Limit int
	// After is the cursor ListIncidents returned with the previous page; empty for the first page.
	After string
}

// IncidentRow is an incident as a list shows it, without its alerts.
type IncidentRow struct {
	TenantID        string
	ID              string
	Title           string
	Severity        incident.Severity
	Status          incident.Status
	Classification  incident.Classification
	Determination   incident.Determination
	AssignedTo      string
	Source          incident.Source
	CreatedAt       time.Time
	LastUpdatedAt   time.Time
	FirstIngestedAt time.Time
	IngestedAt      time.Time
	IngestCount     int
	AlertCount      int
}

type incidentListRow struct {
	TenantID        string    `db:"tenant_id"`
	IncidentID      string    `db:"incident_id"`
	Title           string    `db:"title"`
	Severity        string    `db:"severity"`
	Status          string    `db:"status"`
	Classification  string    `db:"classification"`
	Determination   string    `db:"determination"`
	AssignedTo      string    `db:"assigned_to"`
	Source          string    `db:"source"`
	CreatedAt       time.Time `db:"created_at"`
	LastUpdatedAt   time.Time `db:"last_updated_at"`
	FirstIngestedAt time.Time `db:"first_ingested_at"`
	IngestedAt      time.Time `db:"ingested_at"`
	IngestCount     int       `db:"ingest_count"`
	AlertCount      int       `db:"alert_count"`
}

// ListIncidents returns a page of a tenant's incidents, most recently updated first, and the cursor of
// the next page ("" on the last page). Pages are stable under inserts; an incident updated while paging
// moves to the front and may be missed or seen twice.
func (s *Store) ListIncidents(ctx context.Context, f ListFilter) ([]IncidentRow, string, error) {
	if f.TenantID == "" {
		return nil, "", fmt.Errorf("list incidents: %w: TenantID is empty", ErrInvalid)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	arg := struct {
		TenantID       string    `db:"tenant_id"`
		Severity       string    `db:"severity"`
		Status         string    `db:"status"`
		Paged          bool      `db:"paged"`
		AfterUpdatedAt time.Time `db:"after_updated_at"`
		AfterID        string    `db:"after_id"`
		Limit          int       `db:"limit"`
	}{TenantID: f.TenantID, Severity: string(f.Severity), Status: string(f.Status), Limit: limit + 1}
	if f.After != "" {
		at, id, err := decodeCursor(f.After)
		if err != nil {
			return nil, "", fmt.Errorf("list incidents: %w", err)
		}
		arg.Paged, arg.AfterUpdatedAt, arg.AfterID = true, at, id
	}

	var rows []incidentListRow
	if err := namedSelect(ctx, s.db, listIncidents, arg, &rows); err != nil {
		return nil, "", fmt.Errorf("list incidents: %w", err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		next = encodeCursor(last.LastUpdatedAt, last.IncidentID)
	}
	out := make([]IncidentRow, len(rows))
	for i, r := range rows {
		out[i] = IncidentRow{
			TenantID:        r.TenantID,
			ID:              r.IncidentID,
			Title:           r.Title,
			Severity:        incident.Severity(r.Severity),
			Status:          incident.Status(r.Status),
			Classification:  incident.Classification(r.Classification),
			Determination:   incident.Determination(r.Determination),
			AssignedTo:      r.AssignedTo,
			Source:          incident.Source(r.Source),
			CreatedAt:       r.CreatedAt.UTC(),
			LastUpdatedAt:   r.LastUpdatedAt.UTC(),
			FirstIngestedAt: r.FirstIngestedAt.UTC(),
			IngestedAt:      r.IngestedAt.UTC(),
			IngestCount:     r.IngestCount,
			AlertCount:      r.AlertCount,
		}
	}
	return out, next, nil
}

// A cursor is opaque to callers: base64url of "<last_updated_at in Unix microseconds>:<incident id>".
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + ":" + id))
}

func decodeCursor(cursor string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		micros, id, ok := strings.Cut(string(b), ":")
		if n, perr := strconv.ParseInt(micros, 10, 64); ok && perr == nil && id != "" {
			return time.UnixMicro(n).UTC(), id, nil
		}
	}
	return time.Time{}, "", fmt.Errorf("%w: cursor %q is not one ListIncidents returned; start again without it",
		ErrInvalid, cursor)
}

// toRows turns an incident into rows, refusing what the schema cannot hold faithfully.
func toRows(inc *incident.Incident) (incidentRows, error) {
	if inc.TenantID == "" || inc.ID == "" {
		return incidentRows{}, fmt.Errorf("%w: TenantID and ID are required", ErrInvalid)
	}
	raw, err := json.Marshal(inc)
	if err != nil {
		return incidentRows{}, fmt.Errorf("%w: encode incident: %w", ErrInvalid, err)
	}
	rows := incidentRows{incident: incidentRow{
		TenantID:           inc.TenantID,
		IncidentID:         inc.ID,
		Title:              inc.Title,
		Description:        inc.Description,
		Severity:           string(inc.Severity),
		Status:             string(inc.Status),
		Classification:     string(inc.Classification),
		Determination:      string(inc.Determination),
		AssignedTo:         inc.AssignedTo,
		CustomTags:         textArray(inc.CustomTags),
		SystemTags:         textArray(inc.SystemTags),
		WebURL:             inc.WebURL,
		RedirectIncidentID: inc.RedirectIncidentID,
		Source:             string(inc.Source),
		CreatedAt:          inc.CreatedAt,
		LastUpdatedAt:      inc.LastUpdatedAt,
		Raw:                string(raw),
	}}

	seen := make(map[string]int, len(inc.Alerts))
	for i, a := range inc.Alerts {
		if a.ID == "" {
			return incidentRows{}, fmt.Errorf("%w: alert %d has no id", ErrInvalid, i)
		}
		if first, dup := seen[a.ID]; dup {
			return incidentRows{}, fmt.Errorf("%w: alerts %d and %d have the same id %q", ErrInvalid, first, i, a.ID)
		}
		seen[a.ID] = i
		rows.alerts = append(rows.alerts, alertRow{
			TenantID:           inc.TenantID,
			AlertID:            a.ID,
			IncidentID:         inc.ID,
			Ordinal:            i,
			Title:              a.Title,
			Description:        a.Description,
			Severity:           string(a.Severity),
			Status:             string(a.Status),
			Classification:     string(a.Classification),
			Determination:      string(a.Determination),
			Category:           a.Category,
			DetectionSource:    a.DetectionSource,
			DetectorID:         a.DetectorID,
			ServiceSource:      a.ServiceSource,
			MitreTechniques:    textArray(a.MitreTechniques),
			ThreatFamily:       a.ThreatFamily,
			RecommendedActions: a.RecommendedActions,
			WebURL:             a.WebURL,
			CreatedAt:          a.CreatedAt,
			FirstActivityAt:    nullTime(a.FirstActivityAt),
			LastActivityAt:     nullTime(a.LastActivityAt),
		})
		for j, e := range a.Entities {
			row, err := toEntityRow(e)
			if err != nil {
				return incidentRows{}, fmt.Errorf("%w: alert %q entity %d: %w", ErrInvalid, a.ID, j, err)
			}
			row.TenantID, row.IncidentID, row.AlertID, row.Ordinal = inc.TenantID, inc.ID, a.ID, j
			rows.entities = append(rows.entities, row)
		}
	}
	return rows, nil
}

// fromRows rebuilds an incident from its rows.
func fromRows(r incidentRow, alerts []alertRow, entities []entityRow) (*incident.Incident, error) {
	inc := &incident.Incident{
		TenantID:           r.TenantID,
		ID:                 r.IncidentID,
		Title:              r.Title,
		Description:        r.Description,
		Severity:           incident.Severity(r.Severity),
		Status:             incident.Status(r.Status),
		Classification:     incident.Classification(r.Classification),
		Determination:      incident.Determination(r.Determination),
		AssignedTo:         r.AssignedTo,
		CustomTags:         listOf[string](r.CustomTags),
		SystemTags:         listOf[string](r.SystemTags),
		WebURL:             r.WebURL,
		RedirectIncidentID: r.RedirectIncidentID,
		CreatedAt:          r.CreatedAt.UTC(),
		LastUpdatedAt:      r.LastUpdatedAt.UTC(),
		Source:             incident.Source(r.Source),
	}
	byAlert := make(map[string][]incident.Entity, len(alerts))
	for _, e := range entities {
		ent, err := fromEntityRow(e)
		if err != nil {
			return nil, fmt.Errorf("alert %q entity %d: %w", e.AlertID, e.Ordinal, err)
		}
		byAlert[e.AlertID] = append(byAlert[e.AlertID], ent)
	}
	for _, a := range alerts {
		inc.Alerts = append(inc.Alerts, incident.Alert{
			ID:                 a.AlertID,
			Title:              a.Title,
			Description:        a.Description,
			Severity:           incident.Severity(a.Severity),
			Status:             incident.Status(a.Status),
			Classification:     incident.Classification(a.Classification),
			Determination:      incident.Determination(a.Determination),
			Category:           a.Category,
			DetectionSource:    a.DetectionSource,
			DetectorID:         a.DetectorID,
			ServiceSource:      a.ServiceSource,
			MitreTechniques:    listOf[string](a.MitreTechniques),
			ThreatFamily:       a.ThreatFamily,
			RecommendedActions: a.RecommendedActions,
			WebURL:             a.WebURL,
			CreatedAt:          a.CreatedAt.UTC(),
			FirstActivityAt:    timeOf(a.FirstActivityAt),
			LastActivityAt:     timeOf(a.LastActivityAt),
			Entities:           byAlert[a.AlertID],
		})
	}
	return inc, nil
}

// textArray is a list as a text[] parameter: never NULL, as the columns are NOT NULL.
func textArray[T ~string](list []T) pq.StringArray {
	out := make(pq.StringArray, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	return out
}

// listOf is a text[] column as a model list, nil when empty.
func listOf[T ~string](a pq.StringArray) []T {
	if len(a) == 0 {
		return nil
	}
	out := make([]T, len(a))
	for i, v := range a {
		out[i] = T(v)
	}
	return out
}

// nullTime stores a zero (not given) time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// IncidentHeadline is what a queue shows of a stored incident beside its workflow's search attributes.
type IncidentHeadline struct {
	IncidentID string    `db:"incident_id"`
	Title      string    `db:"title"`
	CreatedAt  time.Time `db:"created_at"`
}

const selectHeadlines = `
SELECT incident_id, title, created_at FROM incidents WHERE tenant_id = :tenant_id AND incident_id = ANY(:ids)`

// Headlines answers the title and creation time of the tenant's incidents ids, by ID; IDs not stored
// (yet) are missing from the answer.
func (s *Store) Headlines(ctx context.Context, tenantID string, ids []string) (map[string]IncidentHeadline, error) {
	out := make(map[string]IncidentHeadline, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []IncidentHeadline
	arg := struct {
		TenantID string         `db:"tenant_id"`
		IDs      pq.StringArray `db:"ids"`
	}{tenantID, ids}
	if err := namedSelect(ctx, s.db, selectHeadlines, arg, &rows); err != nil {
		return nil, fmt.Errorf("incident headlines: %w", err)
	}
	for _, r := range rows {
		r.CreatedAt = r.CreatedAt.UTC()
		out[r.IncidentID] = r
	}
	return out, nil
}
