package store

import (
	"context"
	"fmt"
	"sort"

	"github.com/lib/pq"
)

// SimilarIncident is an earlier incident of the tenant that shares entities with one, with what was
// decided about it.
type SimilarIncident struct {
	IncidentID     string   `json:"incidentId" db:"incident_id"`
	Title          string   `json:"title" db:"title"`
	Severity       string   `json:"severity" db:"severity"`
	SharedEntities int      `json:"sharedEntities" db:"shared"`
	Entities       int      `json:"entities" db:"total"`
	Score          float64  `json:"score" db:"-"`
	Classification string   `json:"classification,omitempty" db:"classification"`
	Determination  string   `json:"determination,omitempty" db:"determination"`
	AppliedActions []string `json:"appliedActions,omitempty" db:"-"`
}

const similarIncidentsSQL = `
WITH mine AS (
    SELECT DISTINCT entity_key FROM entities WHERE tenant_id = :tenant_id AND incident_id = :incident_id
), cand AS (
    SELECT e.incident_id, count(DISTINCT e.entity_key) AS shared
    FROM entities e JOIN mine m ON m.entity_key = e.entity_key
    WHERE e.tenant_id = :tenant_id AND e.incident_id <> :incident_id
    GROUP BY e.incident_id
    ORDER BY shared DESC
    LIMIT 500
)
SELECT c.incident_id, c.shared,
       (SELECT count(DISTINCT x.entity_key) FROM entities x WHERE x.tenant_id = :tenant_id AND x.incident_id = c.incident_id) AS total,
       i.title, i.severity,
       coalesce(o.classification, '') AS classification, coalesce(o.determination, '') AS determination,
       coalesce(o.applied_actions, '{}') AS applied_actions
FROM cand c
JOIN incidents i ON i.tenant_id = :tenant_id AND i.incident_id = c.incident_id
LEFT JOIN outcomes o ON o.tenant_id = :tenant_id AND o.incident_id = c.incident_id`

const countEntitiesSQL = `SELECT count(DISTINCT entity_key) FROM entities WHERE tenant_id = :tenant_id AND incident_id = :incident_id`

type similarRow struct {
	SimilarIncident
	Applied pq.StringArray `db:"applied_actions"`
}

// SimilarIncidents lists up to k incidents of the tenant most alike the given one by the entities they
// share (Jaccard similarity of their entity sets), with their classification and applied actions when
// they are closed. It is the baseline the learning from previous investigations improves on.
func (s *Store) SimilarIncidents(ctx context.Context, tenantID, incidentID string, k int) ([]SimilarIncident, error) {
	key := incidentKey{TenantID: tenantID, IncidentID: incidentID}
	var mine int
	if err := namedGet(ctx, s.db, countEntitiesSQL, key, &mine); err != nil {
		return nil, fmt.Errorf("count entities: %w", err)
	}
	var rows []similarRow
	if err := namedSelect(ctx, s.db, similarIncidentsSQL, key, &rows); err != nil {
		return nil, fmt.Errorf("similar incidents: %w", err)
	}
	out := make([]SimilarIncident, 0, len(rows))
	for _, r := range rows {
		si := r.SimilarIncident
		si.AppliedActions = []string(r.Applied)
		if union := mine + si.Entities - si.SharedEntities; union > 0 {
			si.Score = float64(si.SharedEntities) / float64(union)
		}
		out = append(out, si)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].IncidentID < out[j].IncidentID
	})
	if k > 0 && len(out) > k {
		out = out[:k]
	}
	return out, nil
}
