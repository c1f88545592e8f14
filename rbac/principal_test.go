package rbac_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/guided-response/guided/rbac"
)

func TestCheckSaysWhoLacksWhatAndWhichRolesGrantIt(t *testing.T) {
	reader := rbac.Principal{TenantID: "contoso", ID: "bob@contoso.com", Kind: rbac.KindUser,
		Roles: []string{rbac.RoleSecurityReader}, Permissions: []rbac.Permission{rbac.PermSecurityDataRead}}
	disabled := reader
	disabled.Disabled = true
	disabled.Permissions = nil
	// Built by hand with permissions yet disabled: still nothing.
	disabledByHand := reader
	disabledByHand.Disabled = true

	tests := []struct {
		name string
		p    rbac.Principal
		perm rbac.Permission
		want string // "" for allowed
		why  rbac.DenyReason
	}{
		{"reader reads", reader, rbac.PermSecurityDataRead, "", ""},
		{"reader may not respond", reader, rbac.PermResponseManage,
			"principal bob@contoso.com lacks permission secops.response.manage " +
				"(granted by roles: Security operator, Security administrator)", rbac.ReasonMissing},
		{"advanced live response is for administrators", reader, rbac.PermLiveResponseAdvanced,
			"principal bob@contoso.com lacks permission secops.live-response.advanced " +
				"(granted by roles: Security administrator)", rbac.ReasonMissing},
		{"email actions", reader, rbac.PermEmailAdvancedManage,
			"principal bob@contoso.com lacks permission email.advanced-actions.manage " +
				"(granted by roles: Security administrator, Email operator)", rbac.ReasonMissing},
		{"disabled reader may not read", disabled, rbac.PermSecurityDataRead,
			"principal bob@contoso.com is disabled, so lacks permission secops.security-data.read " +
				"(granted by roles: Security reader, Security operator, Security administrator, Email operator)",
			rbac.ReasonDisabled},
		{"disabled by hand", disabledByHand, rbac.PermSecurityDataRead,
			"principal bob@contoso.com is disabled, so lacks permission secops.security-data.read " +
				"(granted by roles: Security reader, Security operator, Security administrator, Email operator)",
			rbac.ReasonDisabled},
		{"unknown permission", reader, rbac.Permission("secops.everything"),
			"principal bob@contoso.com lacks permission secops.everything (not a known permission)",
			rbac.ReasonMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Check(tt.perm)
			if tt.want == "" {
				if err != nil || !tt.p.Has(tt.perm) {
					t.Fatalf("Check = %v, Has = %v; want allowed", err, tt.p.Has(tt.perm))
				}
				return
			}
			if tt.p.Has(tt.perm) {
				t.Errorf("Has(%s) = true, want false", tt.perm)
			}
			var denied *rbac.DeniedError
			if !errors.As(err, &denied) || !rbac.IsDenied(fmt.Errorf("wrapped: %w", err)) {
				t.Fatalf("Check = %T %v, want *DeniedError", err, err)
			}
			if denied.Reason != tt.why || denied.Principal != "bob@contoso.com" || denied.Permission != tt.perm ||
				denied.TenantID != "contoso" {
				t.Errorf("DeniedError = %+v", denied)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("message:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestSnapshotLookupAndCheck(t *testing.T) {
	snap := rbac.Snapshot{TenantID: "contoso", LoadedAt: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
		Principals: map[string]rbac.Principal{
			"svc-soar": {TenantID: "contoso", ID: "svc-soar", Kind: rbac.KindService,
				Roles: []string{rbac.RoleSecurityOperator}, Permissions: rbac.BuiltInRoles()[1].Permissions},
			"ann@contoso.com": {TenantID: "contoso", ID: "ann@contoso.com", Kind: rbac.KindUser},
		}}
	if _, ok := snap.Lookup("nobody"); ok {
		t.Error("Lookup of an unknown principal found one")
	}
	if p, ok := snap.Lookup("svc-soar"); !ok || !p.Has(rbac.PermResponseManage) {
		t.Errorf("Lookup(svc-soar) = %+v, %v", p, ok)
	}
	if err := snap.Check("svc-soar", rbac.PermAlertsManage); err != nil {
		t.Error(err)
	}
	err := snap.Check("eve@fabrikam.com", rbac.PermAlertsManage)
	want := "principal eve@fabrikam.com is not a principal of tenant contoso, so lacks permission " +
		"secops.alerts.manage (granted by roles: Security operator, Security administrator)"
	if err == nil || err.Error() != want {
		t.Errorf("Check of an unknown principal = %v, want %s", err, want)
	}
	if got := snap.IDs(); !reflect.DeepEqual(got, []string{"ann@contoso.com", "svc-soar"}) {
		t.Errorf("IDs = %v", got)
	}

	// The same snapshot always encodes to the same bytes, and decodes to an equal one.
	first, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := json.Marshal(snap)
		if string(again) != string(first) {
			t.Fatalf("encodings differ:\n%s\n%s", first, again)
		}
	}
	var back rbac.Snapshot
	if err := json.Unmarshal(first, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, snap) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, snap)
	}
}

func TestBuiltInRoles(t *testing.T) {
	admin := rbac.BuiltInRoles()[2]
	if admin.Name != rbac.RoleSecurityAdministrator || len(admin.Permissions) != len(rbac.AllPermissions()) {
		t.Errorf("Security administrator = %+v, want every permission", admin)
	}
	for _, perm := range rbac.AllPermissions() {
		if len(rbac.GrantingRoles(perm)) == 0 {
			t.Errorf("no built-in role grants %s", perm)
		}
	}
	if !rbac.IsBuiltInRole("Security reader") || rbac.IsBuiltInRole("Tier 1") {
		t.Error("IsBuiltInRole")
	}
}
