package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) (*store.Store, *sqlx.DB) {
	t.Helper()
	db := pgtest.MigratedDB(t)
	return store.New(db, hclog.NewNullLogger()), db
}

func TestUpsertCreatesThenUpdatesWithoutDuplicates(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)

	v1 := smallIncident("tenant-a", "inc-1", at(10))
	res, err := s.UpsertIncident(ctx, v1)
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.UpsertResult{Created: true, Changed: true}) {
		t.Errorf("first upsert = %+v, want created and changed", res)
	}
	wantCounts := counts{incidents: 1, alerts: 2, entities: 3}
	checkCounts(t, db, "tenant-a", wantCounts)

	// The same version again: nothing changes but the ingest count.
	res, err = s.UpsertIncident(ctx, smallIncident("tenant-a", "inc-1", at(10)))
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.UpsertResult{}) {
		t.Errorf("identical re-ingest = %+v, want neither created nor changed", res)
	}
	checkCounts(t, db, "tenant-a", wantCounts)

	// A newer version updates in place.
	v2 := smallIncident("tenant-a", "inc-1", at(11))
	v2.Title = "Ransomware on two devices"
	v2.Status = incident.StatusResolved
	v2.Alerts[0].Entities[0].Verdict = incident.VerdictMalicious
	res, err = s.UpsertIncident(ctx, v2)
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.UpsertResult{Changed: true}) {
		t.Errorf("newer re-ingest = %+v, want changed, not created", res)
	}
	checkCounts(t, db, "tenant-a", wantCounts)
	checkStored(t, s, v2)

	var ingests int
	if err := db.Get(&ingests, `SELECT ingest_count FROM incidents WHERE incident_id = 'inc-1'`); err != nil {
		t.Fatal(err)
	}
	if ingests != 3 {
		t.Errorf("ingest_count = %d, want 3", ingests)
	}
}

func TestUpsertIgnoresOlderVersion(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)

	newer := smallIncident("tenant-a", "inc-1", at(12))
	newer.Title = "newer"
	if _, err := s.UpsertIncident(ctx, newer); err != nil {
		t.Fatal(err)
	}
	older := smallIncident("tenant-a", "inc-1", at(11))
	older.Title = "older"
	older.Alerts = append(older.Alerts, incident.Alert{ID: "alert-old", Title: "only in the old version",
		Severity: incident.SeverityLow, CreatedAt: at(1)})
	res, err := s.UpsertIncident(ctx, older)
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.UpsertResult{Stale: true}) {
		t.Errorf("older re-ingest = %+v, want stale and not changed", res)
	}
	checkStored(t, s, newer)
	checkCounts(t, db, "tenant-a", counts{incidents: 1, alerts: 2, entities: 3})
}

func TestUpsertRemovesAlertsGoneFromIncident(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)

	v1 := smallIncident("tenant-a", "inc-1", at(10))
	if _, err := s.UpsertIncident(ctx, v1); err != nil {
		t.Fatal(err)
	}
	v2 := smallIncident("tenant-a", "inc-1", at(11))
	v2.Alerts = v2.Alerts[:1]                                                      // alert-2 is gone
	v2.Alerts[0].Entities = append(v2.Alerts[0].Entities, ipEntity("203.0.113.7")) // and alert-1 gained one
	if res, err := s.UpsertIncident(ctx, v2); err != nil || !res.Changed {
		t.Fatalf("upsert = %+v, %v; want changed", res, err)
	}
	checkCounts(t, db, "tenant-a", counts{incidents: 1, alerts: 1, entities: 3})
	checkStored(t, s, v2)

	var gone int
	if err := db.Get(&gone, `SELECT count(*) FROM entities WHERE alert_id = 'inc-1-alert-2'`); err != nil {
		t.Fatal(err)
	}
	if gone != 0 {
		t.Errorf("%d entities of the removed alert are left", gone)
	}
}

func TestUpsertMovesAlertClaimedByAnotherIncident(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)

	first := smallIncident("tenant-a", "inc-1", at(10))
	if _, err := s.UpsertIncident(ctx, first); err != nil {
		t.Fatal(err)
	}
	// Defender moved inc-1-alert-2 to inc-2.
	second := smallIncident("tenant-a", "inc-2", at(11))
	second.Alerts = []incident.Alert{first.Alerts[1]}
	if _, err := s.UpsertIncident(ctx, second); err != nil {
		t.Fatal(err)
	}
	checkStored(t, s, second)
	got, err := s.GetIncident(ctx, "tenant-a", "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Alerts) != 1 || got.Alerts[0].ID != "inc-1-alert-1" {
		t.Errorf("inc-1 alerts after the move = %v, want only inc-1-alert-1", alertIDs(got))
	}
	checkCounts(t, db, "tenant-a", counts{incidents: 2, alerts: 2, entities: 3})
}

func TestUpsertConcurrentIngestsOfOneIncident(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)

	const workers = 8
	results := make([]store.UpsertResult, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.UpsertIncident(ctx, smallIncident("tenant-a", "inc-1", at(10+i%3)))
		}()
	}
	wg.Wait()
	created := 0
	for i := range workers {
		if errs[i] != nil {
			t.Errorf("worker %d: %v", i, errs[i])
		}
		if results[i].Created {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d upserts created the incident, want exactly 1", created)
	}
	checkCounts(t, db, "tenant-a", counts{incidents: 1, alerts: 2, entities: 3})
	checkStored(t, s, smallIncident("tenant-a", "inc-1", at(12))) // the newest one wins
}

func TestGetIncidentRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)

	want := fullIncident()
	checkEveryFieldSet(t, want)
	if _, err := s.UpsertIncident(ctx, want); err != nil {
		t.Fatal(err)
	}
	checkStored(t, s, want)

	// Sub-microsecond digits and time zones do not survive: times come back in UTC, to the microsecond.
	paris := time.FixedZone("CET", 3600)
	fine := smallIncident("tenant-a", "inc-fine", time.Date(2025, 3, 1, 13, 0, 0, 123456789, paris))
	if _, err := s.UpsertIncident(ctx, fine); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetIncident(ctx, "tenant-a", "inc-fine")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 3, 1, 12, 0, 0, 123457000, time.UTC); got.LastUpdatedAt != want {
		t.Errorf("LastUpdatedAt = %v, want %v", got.LastUpdatedAt, want)
	}

	_, err = s.GetIncident(ctx, "tenant-a", "no-such-incident")
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIncident(missing) error = %v, want ErrNotFound", err)
	}
	_, err = s.GetIncident(ctx, "tenant-b", want.ID)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIncident(other tenant) error = %v, want ErrNotFound", err)
	}
}

func TestUpsertRefusesInvalidIncidents(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)

	tests := map[string]func(*incident.Incident){
		"no tenant":           func(i *incident.Incident) { i.TenantID = "" },
		"no id":               func(i *incident.Incident) { i.ID = "" },
		"duplicate alert ids": func(i *incident.Incident) { i.Alerts[1].ID = i.Alerts[0].ID },
		"unknown severity":    func(i *incident.Incident) { i.Severity = "catastrophic" },
		"unknown entity kind": func(i *incident.Incident) {
			i.Alerts[0].Entities[0] = incident.Entity{Kind: "satellite"}
		},
		"detail of another kind": func(i *incident.Incident) {
			i.Alerts[0].Entities[0].File = &incident.File{FileName: "x.exe"}
		},
	}
	for name, spoil := range tests {
		t.Run(name, func(t *testing.T) {
			inc := smallIncident("tenant-a", "inc-1", at(10))
			spoil(inc)
			_, err := s.UpsertIncident(ctx, inc)
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("error = %v, want ErrInvalid", err)
			}
			t.Logf("refused: %v", err)
		})
	}
	if _, err := s.UpsertIncident(ctx, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("UpsertIncident(nil) error = %v, want ErrInvalid", err)
	}
	checkCounts(t, db, "tenant-a", counts{}) // nothing half-written
}

func TestListIncidents(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)

	// Seven incidents of tenant-a, updated at hours 1..7; odd hours high, even medium; hours 6 and 7
	// resolved. Incidents of tenant-b must never show.
	for h := 1; h <= 7; h++ {
		inc := smallIncident("tenant-a", fmt.Sprintf("inc-%d", h), at(h))
		inc.Severity = incident.SeverityMedium
		if h%2 == 1 {
			inc.Severity = incident.SeverityHigh
		}
		if h >= 6 {
			inc.Status = incident.StatusResolved
		}
		mustUpsert(t, s, inc)
	}
	mustUpsert(t, s, smallIncident("tenant-b", "inc-b1", at(20)))
	// Two incidents updated at the same instant are still paged without loss.
	twin := smallIncident("tenant-a", "inc-4b", at(4))
	twin.Severity = incident.SeverityMedium
	mustUpsert(t, s, twin)

	var pages [][]string
	cursor := ""
	for {
		rows, next, err := s.ListIncidents(ctx, store.ListFilter{TenantID: "tenant-a", Limit: 3, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, incidentIDs(rows))
		if next == "" {
			break
		}
		cursor = next
		if len(pages) > 10 {
			t.Fatal("paging does not end")
		}
	}
	want := [][]string{{"inc-7", "inc-6", "inc-5"}, {"inc-4b", "inc-4", "inc-3"}, {"inc-2", "inc-1"}}
	if !reflect.DeepEqual(pages, want) {
		t.Errorf("pages = %v, want %v", pages, want)
	}

	rows, next, err := s.ListIncidents(ctx, store.ListFilter{TenantID: "tenant-a", Severity: incident.SeverityHigh})
	if err != nil {
		t.Fatal(err)
	}
	if got := incidentIDs(rows); !reflect.DeepEqual(got, []string{"inc-7", "inc-5", "inc-3", "inc-1"}) || next != "" {
		t.Errorf("high incidents = %v (next %q), want inc-7, inc-5, inc-3, inc-1 on one page", got, next)
	}
	rows, _, err = s.ListIncidents(ctx, store.ListFilter{TenantID: "tenant-a", Severity: incident.SeverityHigh,
		Status: incident.StatusResolved})
	if err != nil {
		t.Fatal(err)
	}
	if got := incidentIDs(rows); !reflect.DeepEqual(got, []string{"inc-7"}) {
		t.Errorf("high resolved incidents = %v, want inc-7", got)
	}
	r := rows[0]
	if r.TenantID != "tenant-a" || r.Title == "" || r.AlertCount != 2 || r.IngestCount != 1 ||
		!r.LastUpdatedAt.Equal(at(7)) || r.IngestedAt.IsZero() || r.Source != incident.SourceNative {
		t.Errorf("row = %+v: want tenant, title, 2 alerts, 1 ingest, updated at hour 7, ingest time, source", r)
	}

	if _, _, err := s.ListIncidents(ctx, store.ListFilter{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ListIncidents without tenant: error = %v, want ErrInvalid", err)
	}
	if _, _, err := s.ListIncidents(ctx, store.ListFilter{TenantID: "tenant-a", After: "garbage!"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ListIncidents with a bad cursor: error = %v, want ErrInvalid", err)
	}
}

func TestFindEntitiesAcrossIncidents(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)

	older := smallIncident("tenant-a", "inc-1", at(10))
	newer := smallIncident("tenant-a", "inc-2", at(11))
	newer.Alerts = []incident.Alert{{
		ID: "alert-9", Title: "Suspicious sign-in", Severity: incident.SeverityMedium, CreatedAt: at(11),
		Entities: []incident.Entity{userEntity("eve@example.com"), deviceEntity("dev-1", "ws1.example.com")},
	}}
	newer.Alerts[0].Entities[1].Verdict = incident.VerdictMalicious
	mustUpsert(t, s, older)
	mustUpsert(t, s, newer)
	mustUpsert(t, s, smallIncident("tenant-b", "inc-1", at(12))) // the same device id at another tenant

	key := deviceEntity("dev-1", "").Key()
	refs, err := s.FindEntities(ctx, "tenant-a", key)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.EntityRef{
		{IncidentID: "inc-2", AlertID: "alert-9", Kind: incident.KindDevice, Name: "ws1.example.com",
			Verdict: incident.VerdictMalicious},
		{IncidentID: "inc-1", AlertID: "inc-1-alert-1", Kind: incident.KindDevice, Name: "ws1.example.com",
			Verdict: incident.VerdictSuspicious},
		{IncidentID: "inc-1", AlertID: "inc-1-alert-2", Kind: incident.KindDevice, Name: "ws1.example.com",
			Verdict: incident.VerdictSuspicious},
	}
	if !reflect.DeepEqual(refs, want) {
		t.Errorf("FindEntities(%s) =\n%+v\nwant\n%+v", key, refs, want)
	}

	refs, err = s.FindEntities(ctx, "tenant-a", "device:mde:no-such-device")
	if err != nil || len(refs) != 0 {
		t.Errorf("FindEntities(unknown) = %v, %v; want none", refs, err)
	}
}

func TestPingAndUnavailable(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// Nothing listens on port 1.
	down, err := sqlx.Open("postgres", "postgres://guided:x@127.0.0.1:1/guided?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = down.Close() })
	unavailable := store.New(down, nil)
	if err := unavailable.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping of a server that is down: error = %v, want ErrUnavailable", err)
	}
	if _, err := unavailable.GetIncident(ctx, "tenant-a", "inc-1"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("GetIncident on a server that is down: error = %v, want ErrUnavailable", err)
	}
}

// at is a time on 1 March 2025 at the given hour, in UTC.
func at(hour int) time.Time { return time.Date(2025, 3, 1, hour, 0, 0, 0, time.UTC) }

// smallIncident has two alerts (<id>-alert-1 and -2) sharing a device, one with a user too: 2 alerts,
// 3 entities.
func smallIncident(tenant, id string, updated time.Time) *incident.Incident {
	return &incident.Incident{
		TenantID:      tenant,
		ID:            id,
		Title:         "Ransomware on one device",
		Severity:      incident.SeverityHigh,
		Status:        incident.StatusActive,
		CreatedAt:     at(1),
		LastUpdatedAt: updated,
		Source:        incident.SourceNative,
		Alerts: []incident.Alert{
			{ID: id + "-alert-1", Title: "Ransomware behavior", Severity: incident.SeverityHigh, Status: incident.StatusNew,
				CreatedAt: at(1), Entities: []incident.Entity{deviceEntity("dev-1", "ws1.example.com"),
					userEntity("bob@example.com")}},
			{ID: id + "-alert-2", Title: "Suspicious PowerShell", Severity: incident.SeverityMedium, CreatedAt: at(2),
				Entities: []incident.Entity{deviceEntity("dev-1", "ws1.example.com")}},
		},
	}
}

func deviceEntity(mdeID, dns string) incident.Entity {
	return incident.Entity{Kind: incident.KindDevice, Verdict: incident.VerdictSuspicious,
		Roles: []incident.Role{incident.RoleCompromised}, Device: &incident.Device{MdeDeviceID: mdeID, DNSName: dns}}
}

func userEntity(upn string) incident.Entity {
	return incident.Entity{Kind: incident.KindUser, Verdict: incident.VerdictUnknown,
		User: &incident.UserAccount{UserPrincipalName: upn, AccountName: strings.Split(upn, "@")[0]}}
}

func ipEntity(address string) incident.Entity {
	return incident.Entity{Kind: incident.KindIP, IP: &incident.IP{Address: address, CountryCode: "NL"}}
}

// fullIncident sets every field of the model somewhere, every entity kind included (checkEveryFieldSet
// makes sure it stays that way when the model grows).
func fullIncident() *incident.Incident {
	t := func(minute int) time.Time { return time.Date(2025, 3, 1, 9, minute, 30, 123456000, time.UTC) }
	user := incident.UserAccount{AccountName: "eve", DomainName: "CONTOSO", UserSID: "S-1-5-21-1-2-3-1104",
		AzureADUserID: "0f1e2d3c-0000-4000-8000-000000000001", UserPrincipalName: "eve@contoso.com",
		DisplayName: "Eve"}
	file := incident.File{FileName: "evil.exe", FilePath: `C:\Users\eve\Downloads`,
		SHA1:   "da39a3ee5e6b4b0d3255bfef95601890afd80709",
		SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", FileSize: 1 << 40,
		Publisher: "Evil Corp", Signer: "Evil Corp CA", MdeDeviceID: "dev-1", DetectionStatus: "detected"}
	parent := file
	parent.FileName = "explorer.exe"
	return &incident.Incident{
		TenantID: "tenant-a", ID: "inc-full", Title: "Multi-stage incident", Description: "Everything at once",
		Severity: incident.SeverityHigh, Status: incident.StatusRedirected,
		Classification: incident.ClassificationTruePositive, Determination: incident.DeterminationMultiStagedAttack,
		AssignedTo: "soc@contoso.com", CustomTags: []string{"vip", "ransomware"}, SystemTags: []string{"auto"},
		WebURL: "https://security.microsoft.com/incidents/full", RedirectIncidentID: "inc-merged",
		CreatedAt: t(0), LastUpdatedAt: t(59), Source: incident.SourceGraph,
		Alerts: []incident.Alert{
			{
				ID: "alert-a", Title: "Ransomware", Description: "Files encrypted", Severity: incident.SeverityHigh,
				Status: incident.StatusInProgress, Classification: incident.ClassificationTruePositive,
				Determination: incident.DeterminationMalware, Category: "Ransomware",
				DetectionSource: "microsoftDefenderForEndpoint", DetectorID: "det-1", ServiceSource: "mde",
				MitreTechniques: []string{"T1486", "T1059.001"}, ThreatFamily: "LockBit",
				RecommendedActions: "Isolate the device", WebURL: "https://security.microsoft.com/alerts/a",
				CreatedAt: t(1), FirstActivityAt: t(2), LastActivityAt: t(3),
				Entities: []incident.Entity{
					{Kind: incident.KindDevice, Verdict: incident.VerdictMalicious,
						RemediationStatus: incident.RemediationPrevented,
						Roles:             []incident.Role{incident.RoleCompromised, incident.RoleAttacked},
						DetailedRoles:     []string{"PrimaryDevice"}, Tags: []string{"server"}, CreatedAt: t(4),
						Device: &incident.Device{MdeDeviceID: "dev-1", AzureADDeviceID: "aad-dev-1",
							DNSName: "ws1.contoso.com", OSPlatform: "Windows11", OSBuild: "22631",
							RiskScore: "high", HealthStatus: "active", LoggedOnUsers: []incident.UserAccount{user},
							IPAddresses: []string{"10.0.0.5", "fe80::1"}}},
					{Kind: incident.KindUser, User: &user},
					{Kind: incident.KindMailbox, Mailbox: &incident.Mailbox{PrimaryAddress: "eve@contoso.com",
						DisplayName: "Eve", UserAccount: &user}},
					{Kind: incident.KindAnalyzedMessage, AnalyzedMessage: &incident.AnalyzedMessage{
						NetworkMessageID: "nm-1", InternetMessageID: "<m1@evil.example>", Subject: "Invoice",
						SenderIP: "198.51.100.1", P1Sender: "a@evil.example", P2Sender: "b@evil.example",
						RecipientEmailAddress: "eve@contoso.com", URLs: []string{"https://evil.example/x"},
						AttachmentsCount: 1, AttachmentSHA256s: []string{file.SHA256}, DeliveryAction: "delivered",
						DeliveryLocation: "inbox", AntiSpamDirection: "inbound", ReceivedAt: t(5),
						ThreatDetectionMethods: []string{"urlDetonation"}, Threats: []string{"Phish"}}},
					{Kind: incident.KindFile, File: &file},
					{Kind: incident.KindProcess, Process: &incident.Process{ProcessID: 4242,
						CommandLine: `evil.exe --encrypt C:\`, ImageFile: &file, ParentProcessID: 1000,
						ParentProcessImageFile: &parent, CreatedAt: t(6), UserAccount: &user,
						MdeDeviceID: "dev-1", DetectionStatus: "blocked"}},
					{Kind: incident.KindIP, IP: &incident.IP{Address: "203.0.113.9", CountryCode: "XX"}},
				},
			},
			{
				ID: "alert-b", Title: "Suspicious app", Severity: incident.SeverityLow, CreatedAt: t(10),
				Entities: []incident.Entity{
					{Kind: incident.KindURL, URL: &incident.URL{URL: "https://evil.example/login"}},
					{Kind: incident.KindOAuthApplication, OAuthApplication: &incident.OAuthApplication{
						AppID: "app-1", DisplayName: "Mail Reader", ObjectID: "obj-1", Publisher: "Unknown"}},
					{Kind: incident.KindCloudApplication, CloudApplication: &incident.CloudApplication{
						AppID: 11161, DisplayName: "Office 365", InstanceID: 7, InstanceName: "Contoso O365"}},
					{Kind: incident.KindRegistryKey, RegistryKey: &incident.RegistryKey{
						Key: `SOFTWARE\Microsoft\Windows\CurrentVersion\Run`, Hive: "HKEY_LOCAL_MACHINE"}},
					{Kind: incident.KindRegistryValue, RegistryValue: &incident.RegistryValue{
						Key: `SOFTWARE\Microsoft\Windows\CurrentVersion\Run`, Hive: "HKEY_LOCAL_MACHINE",
						ValueName: "evil", Value: `C:\evil.exe`, ValueType: "String", MdeDeviceID: "dev-1"}},
					{Kind: incident.KindSecurityGroup, SecurityGroup: &incident.SecurityGroup{
						DisplayName: "Domain Admins", SecurityGroupID: "sg-1"}},
					{Kind: incident.KindMailCluster, MailCluster: &incident.MailCluster{Query: "subject:Invoice",
						ClusterBy: "Subject", ClusterByValue: "Invoice", NetworkMessageIDs: []string{"nm-1", "nm-2"},
						EmailCount: 2}},
					{Kind: incident.KindGeneric, Generic: &incident.Generic{
						Type: "#microsoft.graph.security.containerEvidence",
						Properties: map[string]any{"name": "web", "restartCount": 3.0,
							"labels": map[string]any{"app": "shop"}, "ports": []any{80.0, 443.0}}}},
				},
			},
		},
	}
}

// checkEveryFieldSet fails when a field of Incident, or of every Alert or Entity, is zero everywhere in
// inc: a field added to the model must be added to the fixture, and then to the store.
func checkEveryFieldSet(t *testing.T, inc *incident.Incident) {
	t.Helper()
	checkFields(t, "Incident", []reflect.Value{reflect.ValueOf(*inc)})
	var alerts, entities []reflect.Value
	for _, a := range inc.Alerts {
		alerts = append(alerts, reflect.ValueOf(a))
		for _, e := range a.Entities {
			entities = append(entities, reflect.ValueOf(e))
		}
	}
	checkFields(t, "Alert", alerts)
	checkFields(t, "Entity", entities)
}

func checkFields(t *testing.T, typeName string, values []reflect.Value) {
	t.Helper()
	typ := values[0].Type()
	for i := range typ.NumField() {
		set := false
		for _, v := range values {
			set = set || !v.Field(i).IsZero()
		}
		if !set {
			t.Errorf("fixture sets no %s.%s: add it to fullIncident (and make sure the store keeps it)",
				typeName, typ.Field(i).Name)
		}
	}
}

// checkStored checks that GetIncident returns want as it was stored.
func checkStored(t *testing.T, s *store.Store, want *incident.Incident) {
	t.Helper()
	got, err := s.GetIncident(context.Background(), want.TenantID, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		gotJSON, _ := json.MarshalIndent(struct {
			*incident.Incident
			Source incident.Source
		}{got, got.Source}, "", "  ")
		wantJSON, _ := json.MarshalIndent(struct {
			*incident.Incident
			Source incident.Source
		}{want, want.Source}, "", "  ")
		t.Errorf("GetIncident(%s) differs from what was stored:\n got: %s\nwant: %s", want.ID, gotJSON, wantJSON)
	}
}

type counts struct{ incidents, alerts, entities int }

func checkCounts(t *testing.T, db *sqlx.DB, tenant string, want counts) {
	t.Helper()
	var got counts
	for table, n := range map[string]*int{"incidents": &got.incidents, "alerts": &got.alerts, "entities": &got.entities} {
		if err := db.Get(n, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, tenant); err != nil {
			t.Fatal(err)
		}
	}
	if got != want {
		t.Errorf("rows of %s = %+v, want %+v", tenant, got, want)
	}
}

func mustUpsert(t *testing.T, s *store.Store, inc *incident.Incident) {
	t.Helper()
	if _, err := s.UpsertIncident(context.Background(), inc); err != nil {
		t.Fatal(err)
	}
}

func incidentIDs(rows []store.IncidentRow) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}

func alertIDs(inc *incident.Incident) []string {
	var ids []string
	for _, a := range inc.Alerts {
		ids = append(ids, a.ID)
	}
	return ids
}
