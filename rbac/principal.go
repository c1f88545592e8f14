package rbac

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Kinds of principal.
const (
	KindUser    = "user"
	KindService = "service"
)

// Principal is a person or a service of one tenant, with its roles and the permissions they grant.
type Principal struct {
	TenantID string `json:"tenantId"`
	// ID is an email (bob@contoso.com) or a service name.
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
	// Kind is KindUser or KindService.
	Kind string `json:"kind"`
	// Disabled principals keep their roles but have no permission: Permissions is empty.
	Disabled bool `json:"disabled,omitempty"`
	// Roles are the names of the roles held, sorted.
	Roles []string `json:"roles,omitempty"`
	// Permissions are those the roles grant, sorted and without duplicates; none when Disabled.
	Permissions []Permission `json:"permissions,omitempty"`
}

// Has reports whether the principal may use perm: it is enabled and one of its roles grants perm.
func (p Principal) Has(perm Permission) bool {
	if p.Disabled {
		return false
	}
	return slices.Contains(p.Permissions, perm)
}

// Check returns nil when the principal has perm, and a *DeniedError saying why not otherwise.
func (p Principal) Check(perm Permission) error {
	switch {
	case p.Disabled:
		return &DeniedError{TenantID: p.TenantID, Principal: p.ID, Permission: perm, Reason: ReasonDisabled}
	case !p.Has(perm):
		return &DeniedError{TenantID: p.TenantID, Principal: p.ID, Permission: perm, Reason: ReasonMissing}
	}
	return nil
}

// DenyReason says why a principal was denied a permission.
type DenyReason string

// Reasons of a DeniedError.
const (
	// ReasonMissing: no role of the principal grants the permission.
	ReasonMissing DenyReason = "missing"
	// ReasonDisabled: the principal is disabled, and so has no permission.
	ReasonDisabled DenyReason = "disabled"
	// ReasonUnknownPrincipal: the tenant has no such principal.
	ReasonUnknownPrincipal DenyReason = "unknown principal"
)

// DeniedError is a principal's missing permission.
type DeniedError struct {
	TenantID   string
	Principal  string
	Permission Permission
	Reason     DenyReason
}

// Error says who lacks what, why, and which built-in roles grant it, e.g. "principal bob@contoso.com
// lacks permission secops.response.manage (granted by roles: Security operator, Security
// administrator)".
func (e *DeniedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "principal %s ", e.Principal)
	switch e.Reason {
	case ReasonDisabled:
		b.WriteString("is disabled, so ")
	case ReasonUnknownPrincipal:
		fmt.Fprintf(&b, "is not a principal of tenant %s, so ", e.TenantID)
	}
	fmt.Fprintf(&b, "lacks permission %s", e.Permission)
	if roles := GrantingRoles(e.Permission); len(roles) > 0 {
		fmt.Fprintf(&b, " (granted by roles: %s)", strings.Join(roles, ", "))
	} else {
		fmt.Fprintf(&b, " (not a known permission)")
	}
	return b.String()
}

// IsDenied reports whether err is, or wraps, a *DeniedError.
func IsDenied(err error) bool {
	var d *DeniedError
	return errors.As(err, &d)
}
