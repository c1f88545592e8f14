package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/guided-response/guided/incident"
)

// EntityRef is one appearance of an entity: in which incident and alert, and as what.
type EntityRef struct {
	IncidentID string
	AlertID    string
	Kind       incident.EntityKind
	Name       string
	Verdict    incident.Verdict
}

const findEntities = `
SELECT e.incident_id, e.alert_id, e.kind, e.name, e.verdict
FROM entities e
JOIN incidents i ON i.tenant_id = e.tenant_id AND i.incident_id = e.incident_id
WHERE e.tenant_id = :tenant_id AND e.entity_key = :entity_key
ORDER BY i.last_updated_at DESC, e.incident_id, e.alert_id, e.ordinal`

type entityRefRow struct {
	IncidentID string `db:"incident_id"`
	AlertID    string `db:"alert_id"`
	Kind       string `db:"kind"`
	Name       string `db:"name"`
	Verdict    string `db:"verdict"`
}

// FindEntities returns every appearance of the entity with this key (incident.Entity's Key) in a
// tenant's incidents, those of the most recently updated incidents first; none is not an error.
func (s *Store) FindEntities(ctx context.Context, tenantID, entityKey string) ([]EntityRef, error) {
	arg := struct {
		TenantID  string `db:"tenant_id"`
		EntityKey string `db:"entity_key"`
	}{tenantID, entityKey}
	var rows []entityRefRow
	if err := namedSelect(ctx, s.db, findEntities, arg, &rows); err != nil {
		return nil, fmt.Errorf("find entities %s in %s: %w", entityKey, tenantID, err)
	}
	refs := make([]EntityRef, len(rows))
	for i, r := range rows {
		refs[i] = EntityRef{
			IncidentID: r.IncidentID,
			AlertID:    r.AlertID,
			Kind:       incident.EntityKind(r.Kind),
			Name:       r.Name,
			Verdict:    incident.Verdict(r.Verdict),
		}
	}
	return refs, nil
}

// isColumnField reports whether an Entity field (by JSON name) is stored in a column of its own; every
// other field of the entity's JSON is a typed detail, named after its kind ("device", "file", ...).
func isColumnField(name string) bool {
	switch name {
	case "kind", "verdict", "remediationStatus", "roles", "detailedRoles", "tags", "createdAt":
		return true
	}
	return false
}

// toEntityRow turns an entity into its row (without its place: tenant, incident, alert, ordinal). The
// details column holds the JSON of the typed detail whose JSON name is the entity's kind.
func toEntityRow(e incident.Entity) (entityRow, error) {
	if e.Kind == "" {
		return entityRow{}, fmt.Errorf("kind is empty")
	}
	all, err := json.Marshal(e)
	if err != nil {
		return entityRow{}, fmt.Errorf("encode: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(all, &fields); err != nil {
		return entityRow{}, fmt.Errorf("encode: %w", err)
	}
	for name := range fields {
		if !isColumnField(name) && name != string(e.Kind) {
			// A detail that does not match the kind, or a field this store does not know yet: refuse
			// rather than lose it.
			return entityRow{}, fmt.Errorf("kind %q but field %q is set; only the detail named after the kind "+
				"is stored", e.Kind, name)
		}
	}
	row := entityRow{
		EntityKey:         e.Key(),
		Kind:              string(e.Kind),
		Name:              e.Name(),
		Verdict:           string(e.Verdict),
		RemediationStatus: string(e.RemediationStatus),
		Roles:             textArray(e.Roles),
		DetailedRoles:     textArray(e.DetailedRoles),
		Tags:              textArray(e.Tags),
		CreatedAt:         nullTime(e.CreatedAt),
	}
	if d, ok := fields[string(e.Kind)]; ok {
		details := string(d)
		row.Details = &details
	}
	return row, nil
}

// fromEntityRow rebuilds an entity: the typed detail is decoded into the field named after the kind.
func fromEntityRow(r entityRow) (incident.Entity, error) {
	e := incident.Entity{
		Kind:              incident.EntityKind(r.Kind),
		Verdict:           incident.Verdict(r.Verdict),
		RemediationStatus: incident.RemediationStatus(r.RemediationStatus),
		Roles:             listOf[incident.Role](r.Roles),
		DetailedRoles:     listOf[string](r.DetailedRoles),
		Tags:              listOf[string](r.Tags),
		CreatedAt:         timeOf(r.CreatedAt),
	}
	if r.Details != nil {
		wrapped, err := json.Marshal(map[string]json.RawMessage{r.Kind: json.RawMessage(*r.Details)})
		if err != nil {
			return incident.Entity{}, fmt.Errorf("decode details: %w", err)
		}
		if err := json.Unmarshal(wrapped, &e); err != nil {
			return incident.Entity{}, fmt.Errorf("decode details: %w", err)
		}
	}
	return e, nil
}
