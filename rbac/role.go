package rbac

import (
	"fmt"
	"slices"
	"strings"
)

// Names of the built-in roles, which every tenant has.
const (
	RoleSecurityReader        = "Security reader"
	RoleSecurityOperator      = "Security operator"
	RoleSecurityAdministrator = "Security administrator"
	RoleEmailOperator         = "Email operator"
)

// Role is a named set of permissions: a built-in role, the same in every tenant, or a tenant's own.
type Role struct {
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Permissions []Permission `json:"permissions"`
	BuiltIn     bool         `json:"builtIn,omitempty"`
}

// Grants reports whether the role grants perm.
func (r Role) Grants(perm Permission) bool { return slices.Contains(r.Permissions, perm) }

// BuiltInRoles lists the built-in roles, least privileged first: what migration 00002_rbac.sql seeds
// (a test compares the two). A new list here needs a migration there.
func BuiltInRoles() []Role {
	return []Role{
		{
			Name:        RoleSecurityReader,
			Description: "Reads incidents, alerts, evidence and the guided response; decides nothing.",
			Permissions: []Permission{PermSecurityDataRead},
			BuiltIn:     true,
		},
		{
			Name:        RoleSecurityOperator,
			Description: "Triages and classifies incidents and applies response actions, with basic live response.",
			Permissions: normalize([]Permission{
				PermSecurityDataRead, PermAlertsManage, PermResponseManage, PermLiveResponseBasic,
			}),
			BuiltIn: true,
		},
		{
			Name:        RoleSecurityAdministrator,
			Description: "Every permission, including advanced live response, email actions and managing roles.",
			Permissions: normalize(AllPermissions()),
			BuiltIn:     true,
		},
		{
			Name:        RoleEmailOperator,
			Description: "Reads security data and takes advanced email actions (delete, move, block sender).",
			Permissions: normalize([]Permission{PermSecurityDataRead, PermEmailAdvancedManage}),
			BuiltIn:     true,
		},
	}
}

// IsBuiltInRole reports whether name is the name of a built-in role.
func IsBuiltInRole(name string) bool {
	for _, r := range BuiltInRoles() {
		if r.Name == name {
			return true
		}
	}
	return false
}

// GrantingRoles names the built-in roles that grant perm, least privileged first.
func GrantingRoles(perm Permission) []string {
	var names []string
	for _, r := range BuiltInRoles() {
		if r.Grants(perm) {
			names = append(names, r.Name)
		}
	}
	return names
}

// validatePermissions refuses an empty list and unknown permissions, and returns the list sorted and
// without duplicates.
func validatePermissions(perms []Permission) ([]Permission, error) {
	if len(perms) == 0 {
		return nil, fmt.Errorf("%w: a role needs at least one permission; known ones: %s", ErrInvalid, known())
	}
	for i, p := range perms {
		if !p.Valid() {
			return nil, fmt.Errorf("%w: permission %d %q is not known; known ones: %s", ErrInvalid, i, p, known())
		}
	}
	return normalize(perms), nil
}

func known() string {
	names := make([]string, 0, len(AllPermissions()))
	for _, p := range AllPermissions() {
		names = append(names, string(p))
	}
	return strings.Join(names, ", ")
}

// normalize returns a sorted copy of perms without duplicates, nil when empty.
func normalize(perms []Permission) []Permission {
	if len(perms) == 0 {
		return nil
	}
	out := slices.Clone(perms)
	slices.Sort(out)
	return slices.Compact(out)
}
