// Package rbac holds principals, roles and permissions, modelled on Microsoft Defender XDR's unified
// role-based access control: a principal (a person or a service) of one tenant has roles; a role grants
// permissions; an action needs one permission.
package rbac

// Permission is one grant, named after the unified RBAC permission it models.
type Permission string

// Permissions. The names follow Defender XDR's unified RBAC: Security operations > Security data >
// basics (read), Alerts (manage), Response (manage), Live response (basic / advanced); Email &
// collaboration > advanced actions (manage); Authorization and settings > manage.
const (
	PermSecurityDataRead     Permission = "secops.security-data.read"
	PermAlertsManage         Permission = "secops.alerts.manage"
	PermResponseManage       Permission = "secops.response.manage"
	PermLiveResponseBasic    Permission = "secops.live-response.basic"
	PermLiveResponseAdvanced Permission = "secops.live-response.advanced"
	PermEmailAdvancedManage  Permission = "email.advanced-actions.manage"
	PermAuthorizationManage  Permission = "authorization.manage"
)

// AllPermissions lists every permission, for validation and documentation.
func AllPermissions() []Permission {
	return []Permission{
		PermSecurityDataRead, PermAlertsManage, PermResponseManage, PermLiveResponseBasic,
		PermLiveResponseAdvanced, PermEmailAdvancedManage, PermAuthorizationManage,
	}
}

// Valid reports whether p is a known permission.
func (p Permission) Valid() bool {
	for _, q := range AllPermissions() {
		if p == q {
			return true
		}
	}
	return false
}
