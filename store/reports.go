package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Report is the report of one guided-response run on an incident, in Markdown for people and JSON for
// programs.
type Report struct {
	TenantID   string
	IncidentID string
	// RunID is the workflow run the report is of.
	RunID    string
	Markdown string
	// JSON is any JSON value; nil means {}. It comes back as PostgreSQL normalizes jsonb.
	JSON json.RawMessage
	// CreatedAt is when the run's report was first saved; zero means now. UTC, microsecond precision.
	CreatedAt time.Time
}

const (
	// upsertReport keeps one report per run: saving it again replaces its content, not its time.
	upsertReport = `
INSERT INTO reports (tenant_id, incident_id, run_id, markdown, json, created_at)
VALUES (
	:tenant_id, :incident_id, :run_id, :markdown, CAST(:json AS jsonb),
	COALESCE(CAST(:created_at AS timestamptz), now()))
ON CONFLICT (tenant_id, incident_id, run_id) DO UPDATE SET
	markdown = EXCLUDED.markdown, json = EXCLUDED.json, updated_at = now()`

	selectLatestReport = `
SELECT tenant_id, incident_id, run_id, markdown, json, created_at
FROM reports
WHERE tenant_id = :tenant_id AND incident_id = :incident_id
ORDER BY created_at DESC, run_id DESC
LIMIT 1`
)

type reportRow struct {
	TenantID   string     `db:"tenant_id"`
	IncidentID string     `db:"incident_id"`
	RunID      string     `db:"run_id"`
	Markdown   string     `db:"markdown"`
	JSON       string     `db:"json"`
	CreatedAt  *time.Time `db:"created_at"`
}

// SaveReport stores the report of a run; saving the same run's report again replaces its content.
func (s *Store) SaveReport(ctx context.Context, r Report) error {
	if err := required("report", "TenantID", r.TenantID, "IncidentID", r.IncidentID, "RunID", r.RunID); err != nil {
		return fmt.Errorf("save report: %w", err)
	}
	doc, err := jsonText(r.JSON, "{}")
	if err != nil {
		return fmt.Errorf("save report %s/%s run %s: JSON: %w", r.TenantID, r.IncidentID, r.RunID, err)
	}
	row := reportRow{
		TenantID: r.TenantID, IncidentID: r.IncidentID, RunID: r.RunID, Markdown: r.Markdown, JSON: doc,
		CreatedAt: nullTime(r.CreatedAt),
	}
	if _, err := namedExec(ctx, s.db, upsertReport, row); err != nil {
		return fmt.Errorf("save report %s/%s run %s: %w", r.TenantID, r.IncidentID, r.RunID, err)
	}
	s.logger.Debug("saved report", "tenant", r.TenantID, "incident", r.IncidentID, "run", r.RunID)
	return nil
}

// GetReport returns the latest report of an incident (by CreatedAt, then RunID); ErrNotFound when it
// has none.
func (s *Store) GetReport(ctx context.Context, tenantID, incidentID string) (Report, error) {
	var row reportRow
	if err := namedGet(ctx, s.db, selectLatestReport, incidentKey{tenantID, incidentID}, &row); err != nil {
		return Report{}, fmt.Errorf("get report of %s/%s: %w", tenantID, incidentID, err)
	}
	return Report{
		TenantID: row.TenantID, IncidentID: row.IncidentID, RunID: row.RunID, Markdown: row.Markdown,
		JSON: json.RawMessage(row.JSON), CreatedAt: timeOf(row.CreatedAt),
	}, nil
}
