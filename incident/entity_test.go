package incident

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	created := time.Date(2024, 5, 14, 8, 14, 2, 880000000, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name   string
		entity Entity
		key    string
	}{
		{"device by MDE id", Entity{Kind: KindDevice, Device: &Device{MdeDeviceID: "8F2C4B", DNSName: "ws1"}}, "device:mde:8f2c4b"},
		{"device by Entra id", Entity{Kind: KindDevice, Device: &Device{AzureADDeviceID: "0E9D", DNSName: "ws1"}}, "device:aad:0e9d"},
		{"device by DNS name", Entity{Kind: KindDevice, Device: &Device{DNSName: "WS1.contoso.com"}}, "device:dns:ws1.contoso.com"},
		{"user by Entra id", Entity{Kind: KindUser, User: &UserAccount{AzureADUserID: "6B1E", UserPrincipalName: "a@b"}}, "user:aad:6b1e"},
		{"user by UPN", Entity{Kind: KindUser, User: &UserAccount{UserPrincipalName: "MeganB@Contoso.com"}}, "user:upn:meganb@contoso.com"},
		{"user by SID", Entity{Kind: KindUser, User: &UserAccount{UserSID: "S-1-5-21-1-2-3-1108", AccountName: "m"}}, "user:sid:S-1-5-21-1-2-3-1108"},
		{"user by account", Entity{Kind: KindUser, User: &UserAccount{AccountName: "MeganB", DomainName: "CONTOSO"}}, `user:account:contoso\meganb`},
		{"mailbox", Entity{Kind: KindMailbox, Mailbox: &Mailbox{PrimaryAddress: "MeganB@contoso.com"}}, "mailbox:meganb@contoso.com"},
		{"email", Entity{Kind: KindAnalyzedMessage, AnalyzedMessage: &AnalyzedMessage{NetworkMessageID: "A1B2", RecipientEmailAddress: "MeganB@contoso.com", Subject: "x"}},
			"email:a1b2:meganb@contoso.com"},
		{"email without recipient", Entity{Kind: KindAnalyzedMessage, AnalyzedMessage: &AnalyzedMessage{NetworkMessageID: "a1b2"}}, "email:a1b2"},
		{"email by internet message id", Entity{Kind: KindAnalyzedMessage, AnalyzedMessage: &AnalyzedMessage{InternetMessageID: "<X@y>"}}, "email:imid:<X@y>"},
		{"file by SHA-256", Entity{Kind: KindFile, File: &File{SHA256: "ABCDEF", SHA1: "123", FileName: "a.exe"}}, "file:sha256:abcdef"},
		{"file by SHA-1", Entity{Kind: KindFile, File: &File{SHA1: "ABC", FileName: "a.exe"}}, "file:sha1:abc"},
		{"file by name", Entity{Kind: KindFile, File: &File{FileName: "A.exe", FilePath: `C:\Temp`}}, `file:name:c:\temp\a.exe`},
		{"process", Entity{Kind: KindProcess, Process: &Process{MdeDeviceID: "8F2C", ProcessID: 9104, CreatedAt: created}},
			"process:8f2c:9104:2024-05-14T06:14:02.88Z"},
		{"IPv4", Entity{Kind: KindIP, IP: &IP{Address: "198.51.100.23"}}, "ip:198.51.100.23"},
		{"IPv6, canonical", Entity{Kind: KindIP, IP: &IP{Address: "2001:DB8:0:0::17"}}, "ip:2001:db8::17"},
		{"IPv4 mapped in IPv6", Entity{Kind: KindIP, IP: &IP{Address: "::ffff:198.51.100.23"}}, "ip:198.51.100.23"},
		{"URL, as given", Entity{Kind: KindURL, URL: &URL{URL: "https://Example.com/A?b=1"}}, "url:https://Example.com/A?b=1"},
		{"OAuth application", Entity{Kind: KindOAuthApplication, OAuthApplication: &OAuthApplication{AppID: "AB12"}}, "oauth:ab12"},
		{"cloud application", Entity{Kind: KindCloudApplication, CloudApplication: &CloudApplication{AppID: 20893}}, "cloudApp:20893:0"},
		{"registry key", Entity{Kind: KindRegistryKey, RegistryKey: &RegistryKey{Hive: "HKEY_LOCAL_MACHINE", Key: `SYSTEM\X`}}, `registryKey:hkey_local_machine\system\x`},
		{"registry value", Entity{Kind: KindRegistryValue, RegistryValue: &RegistryValue{MdeDeviceID: "D", Hive: "HKCU", Key: `Run`, ValueName: "Evil"}},
			`registryValue:d:hkcu\run:evil`},
		{"security group", Entity{Kind: KindSecurityGroup, SecurityGroup: &SecurityGroup{SecurityGroupID: "G1"}}, "securityGroup:g1"},
		{"mail cluster", Entity{Kind: KindMailCluster, MailCluster: &MailCluster{ClusterBy: "Subject", ClusterByValue: "Invoice"}}, "mailCluster:Subject:Invoice"},
		// The hash is of {"a":1,"b":["x"]}, whatever order the map was built in.
		{"generic", Entity{Kind: KindGeneric, Generic: &Generic{Type: "#t", Properties: map[string]any{"b": []any{"x"}, "a": json.Number("1")}}},
			"generic:#t:" + shortHashOf(`{"a":1,"b":["x"]}`)},
		{"no identifier", Entity{Kind: KindOAuthApplication, OAuthApplication: &OAuthApplication{DisplayName: "App"}},
			"oauthApplication:sha256:" + shortHashOf(`{"displayName":"App"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.entity.Key(); got != tt.key {
				t.Errorf("Key() = %q, want %q", got, tt.key)
			}
			// Verdict, roles and the rest of the context are not identity.
			other := tt.entity
			other.Verdict, other.Roles, other.Tags = VerdictMalicious, []Role{RoleAttacker}, []string{"x"}
			if other.Key() != tt.key {
				t.Errorf("Key() depends on the entity's context: %q", other.Key())
			}
		})
	}
}

func shortHashOf(canonicalJSON string) string {
	var v any
	if err := json.Unmarshal([]byte(canonicalJSON), &v); err != nil {
		panic(err)
	}
	return shortHash(v)
}

// TestKeyStable pins keys of the committed testdata: other packages store them.
func TestKeyStable(t *testing.T) {
	incidents, err := ParseFile("testdata/graph_incident_multi.json")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range incidents[0].Entities() {
		keys = append(keys, e.Key())
	}
	want := []string{
		"cloudApp:20893:0",
		"device:mde:8f2c4b6a1d3e5f7091a2b3c4d5e6f708192a3b4c",
		"email:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d:meganb@contoso.com",
		"file:sha256:0c5ff1bc9705e7a6a5c6b6a249cf81be6ffa94ea88a9f678b3d354ed140d1679",
		"file:sha256:46f9dc49c0f300432bcbaa341e57d5998679d7e7a4b1c250bd6ac3e77897853d",
		"generic:#microsoft.graph.security.cloudLogonSessionEvidence:9727d1a2e5b5d534",
		"ip:198.51.100.23",
		"ip:203.0.113.45",
		"mailbox:meganb@contoso.com",
		"process:8f2c4b6a1d3e5f7091a2b3c4d5e6f708192a3b4c:7212:2024-05-14T08:13:58.103Z",
		"process:8f2c4b6a1d3e5f7091a2b3c4d5e6f708192a3b4c:9104:2024-05-14T08:14:02.88Z",
		`registryValue:8f2c4b6a1d3e5f7091a2b3c4d5e6f708192a3b4c:hkey_current_user\software\microsoft\windows\currentversion\run:svchelper`,
		"url:http://198.51.100.23/dl/svchelper.dll",
		"url:https://invoices-portal.example/view?id=20931",
		"user:aad:6b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys:\n%s\nwant:\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}
	// Parsing the native form gives the same keys, the generic entity's included.
	again, err := Parse("native", encode(t, incidents))
	if err != nil {
		t.Fatal(err)
	}
	for k, e := range again[0].Entities() {
		if e.Key() != want[k] {
			t.Errorf("native form: key %q, want %q", e.Key(), want[k])
		}
	}
}

func TestName(t *testing.T) {
	tests := []struct {
		entity Entity
		name   string
	}{
		{Entity{Kind: KindDevice, Device: &Device{MdeDeviceID: "8f2c", DNSName: "ws1.contoso.com"}}, "ws1.contoso.com"},
		{Entity{Kind: KindDevice, Device: &Device{MdeDeviceID: "8f2c"}}, "8f2c"},
		{Entity{Kind: KindUser, User: &UserAccount{UserPrincipalName: "MeganB@contoso.com", AccountName: "meganb"}}, "MeganB@contoso.com"},
		{Entity{Kind: KindUser, User: &UserAccount{AccountName: "meganb", DomainName: "CONTOSO"}}, `CONTOSO\meganb`},
		{Entity{Kind: KindMailbox, Mailbox: &Mailbox{PrimaryAddress: "m@contoso.com", DisplayName: "Megan"}}, "m@contoso.com"},
		{Entity{Kind: KindAnalyzedMessage, AnalyzedMessage: &AnalyzedMessage{NetworkMessageID: "n", Subject: "Overdue invoice"}}, "Overdue invoice"},
		{Entity{Kind: KindAnalyzedMessage, AnalyzedMessage: &AnalyzedMessage{NetworkMessageID: "n"}}, "n"},
		{Entity{Kind: KindFile, File: &File{FileName: "a.exe", SHA256: "ab"}}, "a.exe"},
		{Entity{Kind: KindProcess, Process: &Process{ProcessID: 42, ImageFile: &File{FileName: "powershell.exe"}}}, "powershell.exe (pid 42)"},
		{Entity{Kind: KindProcess, Process: &Process{CommandLine: "cmd /c whoami"}}, "cmd /c whoami"},
		{Entity{Kind: KindIP, IP: &IP{Address: "198.51.100.23"}}, "198.51.100.23"},
		{Entity{Kind: KindURL, URL: &URL{URL: "https://x.example/"}}, "https://x.example/"},
		{Entity{Kind: KindOAuthApplication, OAuthApplication: &OAuthApplication{AppID: "a1", DisplayName: "Mail Sync"}}, "Mail Sync"},
		{Entity{Kind: KindRegistryKey, RegistryKey: &RegistryKey{Hive: "HKEY_CURRENT_USER", Key: `Software\Run`}}, `HKEY_CURRENT_USER\Software\Run`},
		{Entity{Kind: KindMailCluster, MailCluster: &MailCluster{ClusterBy: "Subject", ClusterByValue: "Invoice"}}, "Subject: Invoice"},
		{Entity{Kind: KindGeneric, Generic: &Generic{Type: "#microsoft.graph.security.dnsEvidence"}}, "dnsEvidence"},
		{Entity{Kind: KindCloudApplication, CloudApplication: &CloudApplication{AppID: 7}}, "cloudApp:7:0"},
	}
	for _, tt := range tests {
		if got := tt.entity.Name(); got != tt.name {
			t.Errorf("%s: Name() = %q, want %q", tt.entity.Kind, got, tt.name)
		}
	}
}

func TestEntities(t *testing.T) {
	megan := func(verdict Verdict, roles ...Role) Entity {
		return Entity{Kind: KindUser, Verdict: verdict, Roles: roles, User: &UserAccount{AzureADUserID: "6b1e", UserPrincipalName: "MeganB@contoso.com"}}
	}
	c2 := func(verdict Verdict, roles ...Role) Entity {
		return Entity{Kind: KindIP, Verdict: verdict, Roles: roles, IP: &IP{Address: "198.51.100.23"}}
	}
	inc := Incident{Alerts: []Alert{
		{ID: "a1", MitreTechniques: []string{"T1566.001"}, Entities: []Entity{
			megan(VerdictUnknown, RoleDestination),
			c2(VerdictSuspicious, RoleSource),
			{Kind: KindDevice, Verdict: VerdictNoThreatsFound, Device: &Device{MdeDeviceID: "d1", DNSName: "ws1"}, Tags: []string{"Finance"}},
		}},
		{ID: "a2", MitreTechniques: []string{"T1059.001", "T1566.001"}, Entities: []Entity{
			c2(VerdictMalicious, RoleCommandAndControl, RoleSource),
			// The same user, named differently: the first occurrence's details win.
			{Kind: KindUser, Verdict: VerdictNoThreatsFound, Roles: []Role{RoleCompromised}, User: &UserAccount{AzureADUserID: "6B1E"}},
			{Kind: KindDevice, Verdict: VerdictUnknown, Device: &Device{MdeDeviceID: "D1"}, Tags: []string{"VIP"}},
		}},
	}}
	got := inc.Entities()
	want := []Entity{
		{Kind: KindDevice, Verdict: VerdictUnknown, Device: &Device{MdeDeviceID: "d1", DNSName: "ws1"}, Tags: []string{"Finance", "VIP"}},
		{Kind: KindIP, Verdict: VerdictMalicious, Roles: []Role{RoleSource, RoleCommandAndControl}, IP: &IP{Address: "198.51.100.23"}},
		{Kind: KindUser, Verdict: VerdictUnknown, Roles: []Role{RoleDestination, RoleCompromised},
			User: &UserAccount{AzureADUserID: "6b1e", UserPrincipalName: "MeganB@contoso.com"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Entities():\n got %+v\nwant %+v", got, want)
	}
	// Merging does not change the incident.
	if roles := inc.Alerts[0].Entities[0].Roles; !reflect.DeepEqual(roles, []Role{RoleDestination}) {
		t.Errorf("the incident's roles changed to %v", roles)
	}
	if techniques := inc.Techniques(); !reflect.DeepEqual(techniques, []string{"T1059.001", "T1566.001"}) {
		t.Errorf("Techniques() = %v", techniques)
	}
	if (&Incident{}).Entities() == nil || len((&Incident{}).Entities()) != 0 {
		t.Error("an incident without alerts has no entities")
	}
}

// TestEntitiesFillDetails: details one appearance lacks come from another (an attachment has no device
// until the file is seen on one), the first value of a field stands, and the alerts are not changed.
func TestEntitiesFillDetails(t *testing.T) {
	const sha = "0c5ff1bc9705e7a6a5c6b6a249cf81be6ffa94ea88a9f678b3d354ed140d1679"
	inc := Incident{Alerts: []Alert{
		{ID: "a1", Entities: []Entity{
			{Kind: KindFile, File: &File{SHA256: sha, FileName: "invoice.docm"}},
			{Kind: KindProcess, Process: &Process{MdeDeviceID: "d1", ProcessID: 42, ImageFile: &File{FileName: "winword.exe"}}},
		}},
		{ID: "a2", Entities: []Entity{
			{Kind: KindFile, RemediationStatus: RemediationNone, File: &File{SHA256: sha, FileName: "other.docm", MdeDeviceID: "d1", FilePath: `C:\Users\megan`}},
			{Kind: KindProcess, Process: &Process{MdeDeviceID: "d1", ProcessID: 42, CommandLine: "winword.exe /n", ImageFile: &File{FileName: "WINWORD.EXE", FilePath: `C:\Program Files`}}},
		}},
	}}
	got := map[EntityKind]Entity{}
	for _, e := range inc.Entities() {
		got[e.Kind] = e
	}
	f := got[KindFile]
	if f.File.MdeDeviceID != "d1" || f.File.FilePath != `C:\Users\megan` || f.File.FileName != "invoice.docm" || f.RemediationStatus != RemediationNone {
		t.Errorf("merged file %+v %+v", f, f.File)
	}
	p := got[KindProcess]
	if p.Process == nil || p.Process.CommandLine != "winword.exe /n" || p.Process.ImageFile.FileName != "winword.exe" || p.Process.ImageFile.FilePath != `C:\Program Files` {
		t.Errorf("merged process %+v %+v", p.Process, p.Process.ImageFile)
	}
	if first := inc.Alerts[0].Entities[0].File; first.MdeDeviceID != "" || first.FilePath != "" {
		t.Errorf("the first alert's file changed: %+v", first)
	}
	if img := inc.Alerts[0].Entities[1].Process.ImageFile; img.FilePath != "" || inc.Alerts[0].Entities[1].Process.CommandLine != "" {
		t.Errorf("the first alert's process changed: %+v", inc.Alerts[0].Entities[1].Process)
	}
}

func TestEntitiesOfTestdata(t *testing.T) {
	incidents, err := ParseFile("testdata/graph_incident_multi.json")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[EntityKind]int{}
	var user Entity
	for _, e := range incidents[0].Entities() {
		counts[e.Kind]++
		if e.Kind == KindUser {
			user = e
		}
	}
	want := map[EntityKind]int{
		KindAnalyzedMessage: 1, KindCloudApplication: 1, KindDevice: 1, KindFile: 2, KindGeneric: 1, KindIP: 2,
		KindMailbox: 1, KindProcess: 2, KindRegistryValue: 1, KindURL: 2, KindUser: 1,
	}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("distinct entities by kind = %v, want %v", counts, want)
	}
	// Megan is evidence in all three alerts; the identity alert found her compromised.
	if user.Verdict != VerdictMalicious || !reflect.DeepEqual(user.Roles, []Role{RoleDestination, RoleSource, RoleCompromised}) {
		t.Errorf("user: verdict %q roles %v", user.Verdict, user.Roles)
	}
}
