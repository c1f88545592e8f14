package rbac

import (
	"slices"
	"time"
)

// Snapshot is every principal of one tenant with its permissions, as loaded at one time. A workflow
// keeps one per incident and checks decisions against it: it is plain data, JSON-serializable, and
// nothing in it depends on map iteration order (encoding/json sorts map keys; IDs sorts too).
type Snapshot struct {
	TenantID string `json:"tenantId"`
	// Principals by ID.
	Principals map[string]Principal `json:"principals"`
	LoadedAt   time.Time            `json:"loadedAt"`
}

// Lookup returns the principal with this ID.
func (s Snapshot) Lookup(id string) (Principal, bool) {
	p, ok := s.Principals[id]
	return p, ok
}

// Check returns nil when the principal exists and has perm, and a *DeniedError otherwise.
func (s Snapshot) Check(id string, perm Permission) error {
	p, ok := s.Lookup(id)
	if !ok {
		return &DeniedError{TenantID: s.TenantID, Principal: id, Permission: perm, Reason: ReasonUnknownPrincipal}
	}
	return p.Check(perm)
}

// IDs lists the principals' IDs, sorted.
func (s Snapshot) IDs() []string {
	ids := make([]string, 0, len(s.Principals))
	for id := range s.Principals {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
