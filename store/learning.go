package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/guided-response/guided/guide"
)

// Sources of historical incidents.
const (
	SourceGUIDE  = "guide"
	SourceGuided = "guided"
)

// HistoricalIncident is a past incident as the models learn from it.
type HistoricalIncident struct {
	Source     string
	OrgID      string
	IncidentID string
	Incident   guide.Incident
	ImportedAt time.Time
}

type historicalRow struct {
	Source     string         `db:"source"`
	OrgID      string         `db:"org_id"`
	IncidentID string         `db:"incident_id"`
	Grade      string         `db:"grade"`
	Aggregate  []byte         `db:"aggregate"`
	Actions    pq.StringArray `db:"actions"`
	FirstSeen  *time.Time     `db:"first_seen"`
	LastSeen   *time.Time     `db:"last_seen"`
	ImportedAt time.Time      `db:"imported_at"`
}

const upsertHistorical = `
INSERT INTO historical_incidents (source, org_id, incident_id, grade, aggregate, actions, first_seen, last_seen, imported_at)
VALUES (:source, :org_id, :incident_id, :grade, :aggregate, :actions, :first_seen, :last_seen, now())
ON CONFLICT (source, org_id, incident_id) DO UPDATE
SET grade = EXCLUDED.grade, aggregate = EXCLUDED.aggregate, actions = EXCLUDED.actions,
    first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, imported_at = now()
WHERE historical_incidents.aggregate IS DISTINCT FROM EXCLUDED.aggregate
   OR historical_incidents.grade IS DISTINCT FROM EXCLUDED.grade
   OR historical_incidents.actions IS DISTINCT FROM EXCLUDED.actions`

// UpsertHistorical stores incidents of source in one transaction: an incident stored before is replaced
// only when it changed, so importing the same data again changes nothing. It answers how many rows were
// written.
func (s *Store) UpsertHistorical(ctx context.Context, source string, incs []guide.Incident) (int64, error) {
	if len(incs) == 0 {
		return 0, nil
	}
	rows := make([]historicalRow, 0, len(incs))
	for i := range incs {
		inc := &incs[i]
		agg, err := json.Marshal(inc)
		if err != nil {
			return 0, fmt.Errorf("encode incident %d/%d: %w", inc.Key.OrgID, inc.Key.IncidentID, err)
		}
		r := historicalRow{Source: source, OrgID: fmt.Sprint(inc.Key.OrgID), IncidentID: fmt.Sprint(inc.Key.IncidentID),
			Grade: string(inc.Grade), Aggregate: agg, Actions: pq.StringArray(inc.Actions)}
		if r.Actions == nil {
			r.Actions = pq.StringArray{}
		}
		if !inc.First.IsZero() {
			f, l := inc.First.UTC(), inc.Last.UTC()
			r.FirstSeen, r.LastSeen = &f, &l
		}
		rows = append(rows, r)
	}
	var n int64
	err := s.inTx(ctx, false, func(tx sqlx.ExtContext) error {
		// 9 parameters a row: batches stay far below PostgreSQL's 65535.
		for _, batch := range chunks(rows, 1000) {
			k, err := namedExec(ctx, tx, upsertHistorical, batch)
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store historical incidents: %w", err)
	}
	return n, nil
}

// UpsertGuided stores one of this system's closed incidents as a historical incident (source 'guided'),
// keyed by its tenant and ID.
func (s *Store) UpsertGuided(ctx context.Context, tenantID, incidentID string, inc guide.Incident) error {
	agg, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("encode incident %s/%s: %w", tenantID, incidentID, err)
	}
	r := historicalRow{Source: SourceGuided, OrgID: tenantID, IncidentID: incidentID, Grade: string(inc.Grade), Aggregate: agg,
		Actions: pq.StringArray(append([]string{}, inc.Actions...))}
	if !inc.First.IsZero() {
		f, l := inc.First.UTC(), inc.Last.UTC()
		r.FirstSeen, r.LastSeen = &f, &l
	}
	if _, err := namedExec(ctx, s.db, upsertHistorical, r); err != nil {
		return fmt.Errorf("store closed incident %s/%s for learning: %w", tenantID, incidentID, err)
	}
	return nil
}

const selectHistorical = `
SELECT source, org_id, incident_id, grade, aggregate, actions, first_seen, last_seen, imported_at
FROM historical_incidents WHERE (:source = '' OR source = :source) AND (:org_id = '' OR org_id = :org_id)
ORDER BY source, org_id, incident_id`

// EachHistorical streams the stored historical incidents of source ("" for all) to fn, in key order.
func (s *Store) EachHistorical(ctx context.Context, source string, fn func(HistoricalIncident) error) error {
	return s.EachHistoricalOf(ctx, source, "", fn)
}

// EachHistoricalOf is EachHistorical for one organisation (a tenant, for source 'guided'); "" for all.
func (s *Store) EachHistoricalOf(ctx context.Context, source, orgID string, fn func(HistoricalIncident) error) error {
	return s.eachHistorical(ctx, selectHistorical, map[string]any{"source": source, "org_id": orgID}, fn)
}

func (s *Store) eachHistorical(ctx context.Context, query string, params map[string]any, fn func(HistoricalIncident) error) error {
	q, args, err := sqlx.Named(query, params)
	if err != nil {
		return err
	}
	rows, err := s.db.QueryxContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return fmt.Errorf("historical incidents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r historicalRow
		if err := rows.StructScan(&r); err != nil {
			return fmt.Errorf("historical incidents: %w", err)
		}
		h := HistoricalIncident{Source: r.Source, OrgID: r.OrgID, IncidentID: r.IncidentID, ImportedAt: r.ImportedAt.UTC()}
		if err := json.Unmarshal(r.Aggregate, &h.Incident); err != nil {
			return fmt.Errorf("historical incident %s/%s/%s: %w", r.Source, r.OrgID, r.IncidentID, err)
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	return rows.Err()
}

const selectHistoricalChanged = `
SELECT source, org_id, incident_id, grade, aggregate, actions, first_seen, last_seen, imported_at
FROM historical_incidents WHERE source = :source AND org_id = :org_id AND imported_at > :since
ORDER BY imported_at, incident_id`

// EachHistoricalChanged streams an organisation's historical incidents of source stored or changed after
// since, oldest change first: what a follower of new incidents asks for. A transaction that commits late
// can carry an imported_at a little before the newest one seen: ask again from a little earlier and
// skip what you hold.
func (s *Store) EachHistoricalChanged(ctx context.Context, source, orgID string, since time.Time, fn func(HistoricalIncident) error) error {
	return s.eachHistorical(ctx, selectHistoricalChanged, map[string]any{"source": source, "org_id": orgID, "since": since.UTC()}, fn)
}

// CountHistorical counts the stored historical incidents by source.
func (s *Store) CountHistorical(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Source string `db:"source"`
		N      int64  `db:"n"`
	}
	if err := sqlx.SelectContext(ctx, s.db, &rows, `SELECT source, count(*) AS n FROM historical_incidents GROUP BY source`); err != nil {
		return nil, fmt.Errorf("count historical incidents: %w", err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Source] = r.N
	}
	return out, nil
}

// GuideImport is a finished import of one GUIDE file.
type GuideImport struct {
	Fingerprint string    `db:"fingerprint"`
	Path        string    `db:"path"`
	Rows        int64     `db:"rows"`
	Malformed   int64     `db:"malformed"`
	Incidents   int64     `db:"incidents"`
	FinishedAt  time.Time `db:"finished_at"`
}

// FinishedImport answers the finished import of the file with this fingerprint, or ErrNotFound.
func (s *Store) FinishedImport(ctx context.Context, fingerprint string) (GuideImport, error) {
	var g GuideImport
	err := namedGet(ctx, s.db, `SELECT fingerprint, path, rows, malformed, incidents, finished_at FROM guide_imports WHERE fingerprint = :fingerprint`,
		map[string]any{"fingerprint": fingerprint}, &g)
	if errors.Is(err, ErrNotFound) {
		return GuideImport{}, ErrNotFound
	}
	if err != nil {
		return GuideImport{}, fmt.Errorf("guide import: %w", err)
	}
	g.FinishedAt = g.FinishedAt.UTC()
	return g, nil
}

// RecordImport records a finished import.
func (s *Store) RecordImport(ctx context.Context, g GuideImport) error {
	_, err := namedExec(ctx, s.db, `
INSERT INTO guide_imports (fingerprint, path, rows, malformed, incidents) VALUES (:fingerprint, :path, :rows, :malformed, :incidents)
ON CONFLICT (fingerprint) DO UPDATE SET path = EXCLUDED.path, rows = EXCLUDED.rows, malformed = EXCLUDED.malformed,
    incidents = EXCLUDED.incidents, finished_at = now()`, g)
	if err != nil {
		return fmt.Errorf("record guide import: %w", err)
	}
	return nil
}

// Model is a trained model.
type Model struct {
	Kind      string          `db:"kind"`
	Version   string          `db:"version"`
	CreatedAt time.Time       `db:"created_at"`
	Metrics   json.RawMessage `db:"metrics"`
	Body      []byte          `db:"body"`
}

// SaveModel stores a model; saving the same kind and version again is refused with ErrDuplicate.
func (s *Store) SaveModel(ctx context.Context, m Model) error {
	if len(m.Metrics) == 0 {
		m.Metrics = json.RawMessage(`{}`)
	}
	if _, err := namedExec(ctx, s.db, `INSERT INTO models (kind, version, metrics, body) VALUES (:kind, :version, :metrics, :body)`, m); err != nil {
		return fmt.Errorf("save model %s %s: %w", m.Kind, m.Version, err)
	}
	return nil
}

// LatestModel answers the newest model of kind, or ErrNotFound.
func (s *Store) LatestModel(ctx context.Context, kind string) (Model, error) {
	return s.model(ctx, `SELECT kind, version, created_at, metrics, body FROM models WHERE kind = :kind ORDER BY created_at DESC, version DESC LIMIT 1`,
		map[string]any{"kind": kind})
}

// LatestModelVersion answers the version of the newest model of kind, or ErrNotFound: what a cache of
// models asks often, without reading the model's body each time.
func (s *Store) LatestModelVersion(ctx context.Context, kind string) (string, error) {
	var version string
	err := namedGet(ctx, s.db, `SELECT version FROM models WHERE kind = :kind ORDER BY created_at DESC, version DESC LIMIT 1`,
		map[string]any{"kind": kind}, &version)
	if errors.Is(err, ErrNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("latest model version: %w", err)
	}
	return version, nil
}

// GetModel answers the model of kind and version, or ErrNotFound.
func (s *Store) GetModel(ctx context.Context, kind, version string) (Model, error) {
	return s.model(ctx, `SELECT kind, version, created_at, metrics, body FROM models WHERE kind = :kind AND version = :version`,
		map[string]any{"kind": kind, "version": version})
}

func (s *Store) model(ctx context.Context, query string, arg any) (Model, error) {
	var m Model
	err := namedGet(ctx, s.db, query, arg, &m)
	if errors.Is(err, ErrNotFound) {
		return Model{}, ErrNotFound
	}
	if err != nil {
		return Model{}, fmt.Errorf("model: %w", err)
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return m, nil
}
