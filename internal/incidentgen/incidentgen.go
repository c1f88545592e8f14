// Package incidentgen makes synthetic, valid incidents for load tests: four mixes that exercise the
// built-in playbooks the way real Defender XDR incidents do (a phishing email, malware on a device, a
// compromised user, benign admin activity). The generator is deterministic: the same options give the
// same incidents, so a benchmark run can be repeated; the run ID in every tenant and incident ID keeps
// one run's incidents from colliding with an earlier run's workflows.
package incidentgen

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"regexp"
	"time"

	"github.com/guided-response/guided/incident"
)

// Mix is a kind of generated incident.
type Mix string

// The mixes. Each names the evidence it carries and the classification an analyst would give it.
const (
	// MixPhishing: a delivered phishing email with its mailbox, recipient, link and sender IP.
	MixPhishing Mix = "phishing"
	// MixMalware: malware on a device: the device, the file, the process that ran it, a C2 address.
	MixMalware Mix = "malware"
	// MixCompromisedUser: a user signing in from an unfamiliar address to a cloud app (CredentialAccess).
	MixCompromisedUser Mix = "compromisedUser"
	// MixBenignAdmin: an administrator's scripted activity on a device, low severity, no threats found.
	MixBenignAdmin Mix = "benignAdmin"
)

// Mixes are the four mixes, in the order the generator cycles through them.
func Mixes() []Mix { return []Mix{MixPhishing, MixMalware, MixCompromisedUser, MixBenignAdmin} }

// Verdict is the classification and determination an analyst would give an incident of the mix.
func (m Mix) Verdict() (incident.Classification, incident.Determination) {
	switch m {
	case MixPhishing:
		return incident.ClassificationTruePositive, incident.DeterminationPhishing
	case MixMalware:
		return incident.ClassificationTruePositive, incident.DeterminationMalware
	case MixCompromisedUser:
		return incident.ClassificationTruePositive, incident.DeterminationCompromisedAccount
	default:
		return incident.ClassificationInformationalExpectedActivity, incident.DeterminationConfirmedUserActivity
	}
}

// Options configure a Generator. The zero value is usable; set RunID to keep runs apart.
type Options struct {
	// RunID goes into every tenant and incident ID (A-Z a-z 0-9 . _ : -, at most 64 characters); empty
	// uses "run". NewRunID makes a fresh one.
	RunID string
	// TenantID, when set, is the tenant of every incident (e.g. one whose principals were granted roles);
	// empty uses "bench-<RunID>", a tenant of this run alone.
	TenantID string
	// Seed seeds the random choices (names, addresses, hashes); the same seed gives the same incidents.
	Seed uint64
	// Now is the creation time of the incidents (their alerts happened minutes before it); zero uses
	// 2025-01-01T00:00:00Z. Pass the current time when the incidents go to a live stack: the
	// classification SLA counts from it.
	Now time.Time
	// Mixes are cycled through in order; empty uses Mixes().
	Mixes []Mix
}

// Generator makes incidents; it is not safe for concurrent use.
type Generator struct {
	opts Options
	rng  *mrand.Rand
	seq  int
}

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// New returns a generator, or an error when the options cannot make valid incidents.
func New(opts Options) (*Generator, error) {
	if opts.RunID == "" {
		opts.RunID = "run"
	}
	if !runIDPattern.MatchString(opts.RunID) {
		return nil, fmt.Errorf("run ID %q: use 1 to 64 characters of A-Z a-z 0-9 . _ : -", opts.RunID)
	}
	if opts.TenantID == "" {
		opts.TenantID = "bench-" + opts.RunID
	}
	if opts.Now.IsZero() {
		opts.Now = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	opts.Now = opts.Now.UTC().Truncate(time.Second)
	if len(opts.Mixes) == 0 {
		opts.Mixes = Mixes()
	}
	for _, m := range opts.Mixes {
		switch m {
		case MixPhishing, MixMalware, MixCompromisedUser, MixBenignAdmin:
		default:
			return nil, fmt.Errorf("unknown mix %q: use %v", m, Mixes())
		}
	}
	return &Generator{opts: opts, rng: mrand.New(mrand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))}, nil
}

// NewRunID returns a fresh run ID: the time of day and random digits, e.g. "0915-3fa2c1".
func NewRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // never fails (crypto/rand panics on a broken source)
	return time.Now().UTC().Format("0102T1504") + "-" + hex.EncodeToString(b)
}

// TenantID is the tenant of the generated incidents.
func (g *Generator) TenantID() string { return g.opts.TenantID }

// RunID is the run ID in the generated IDs.
func (g *Generator) RunID() string { return g.opts.RunID }

// Next returns the next incident (the mixes in turn) and its mix. The incident passes Validate.
func (g *Generator) Next() (incident.Incident, Mix) {
	m := g.opts.Mixes[g.seq%len(g.opts.Mixes)]
	g.seq++
	id := fmt.Sprintf("%s-%06d", g.opts.RunID, g.seq)
	return g.make(m, id), m
}

func (g *Generator) make(m Mix, id string) incident.Incident {
	switch m {
	case MixPhishing:
		return g.phishing(id)
	case MixMalware:
		return g.malware(id)
	case MixCompromisedUser:
		return g.compromisedUser(id)
	default:
		return g.benignAdmin(id)
	}
}

var (
	firstNames = []string{"lidia", "megan", "adele", "alex", "diego", "grady", "isaiah", "joni", "lee", "lynne", "miriam", "nestor", "patti", "pradeep"}
	lastNames  = []string{"holloway", "bowen", "vance", "wilber", "siciliani", "archie", "langer", "sherman", "gu", "robbins", "graham", "wilke", "fernandez", "gupta"}
	lures      = []string{"Megan shared \"Q2 Budget %d.xlsx\" with you", "Your mailbox is %d%% full", "Invoice %d overdue", "Action required: verify your account (case %d)", "Voicemail from +1 555 01%02d"}
	badDomains = []string{"sharepoint-docs.example", "office-verify.example", "m1crosoft-login.example", "payroll-update.example"}
	malware    = []string{"Emotet", "Qakbot", "AgentTesla", "IcedID", "Lumma"}
	cloudApps  = []struct {
		id   int64
		name string
	}{{11161, "Office 365"}, {20893, "Microsoft Exchange Online"}, {12260, "Microsoft Azure"}, {15600, "Microsoft OneDrive for Business"}}
	adminTools = []string{"psexec.exe", "powershell.exe", "wmic.exe", "sc.exe"}
)

func pick[T any](r *mrand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// person is a user of the tenant.
type person struct {
	account, upn, display, aadID string
}

func (g *Generator) person() person {
	first, last := pick(g.rng, firstNames), pick(g.rng, lastNames)
	account := fmt.Sprintf("%s%c%d", first, last[0], g.rng.IntN(100))
	return person{
		account: account,
		upn:     account + "@contoso.com",
		display: fmt.Sprintf("%c%s %c%s", first[0]-32, first[1:], last[0]-32, last[1:]),
		aadID:   g.uuid(),
	}
}

func (p person) userAccount() *incident.UserAccount {
	return &incident.UserAccount{AccountName: p.account, DomainName: "CONTOSO", AzureADUserID: p.aadID, UserPrincipalName: p.upn, DisplayName: p.display}
}

func (g *Generator) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (g *Generator) hexDigits(n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	return hex.EncodeToString(b)[:n]
}

// publicIP is an address of the documentation ranges (RFC 5737): never a real host.
func (g *Generator) publicIP() string {
	nets := [][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}
	n := pick(g.rng, nets)
	return netip.AddrFrom4([4]byte{n[0], n[1], n[2], byte(1 + g.rng.IntN(254))}).String()
}

func (g *Generator) internalIP() string {
	return netip.AddrFrom4([4]byte{10, byte(g.rng.IntN(256)), byte(g.rng.IntN(256)), byte(1 + g.rng.IntN(254))}).String()
}

func (g *Generator) device(role incident.Role, verdict incident.Verdict, users ...person) incident.Entity {
	host := fmt.Sprintf("ws-%s-%03d", pick(g.rng, []string{"fin", "hr", "eng", "ops", "it"}), g.rng.IntN(1000))
	d := &incident.Device{
		MdeDeviceID:     g.hexDigits(40),
		AzureADDeviceID: g.uuid(),
		DNSName:         host + ".contoso.com",
		OSPlatform:      "Windows11",
		OSBuild:         "22631",
		RiskScore:       "medium",
		HealthStatus:    "active",
		IPAddresses:     []string{g.internalIP()},
	}
	for _, u := range users {
		d.LoggedOnUsers = append(d.LoggedOnUsers, incident.UserAccount{AccountName: u.account, DomainName: "CONTOSO"})
	}
	return incident.Entity{Kind: incident.KindDevice, Verdict: verdict, Roles: []incident.Role{role}, Device: d}
}

func userEntity(p person, role incident.Role, verdict incident.Verdict) incident.Entity {
	return incident.Entity{Kind: incident.KindUser, Verdict: verdict, Roles: []incident.Role{role}, User: p.userAccount()}
}

func ipEntity(addr string, role incident.Role, verdict incident.Verdict) incident.Entity {
	return incident.Entity{Kind: incident.KindIP, Verdict: verdict, Roles: []incident.Role{role}, IP: &incident.IP{Address: addr, CountryCode: "ZZ"}}
}

// base is the incident without alerts; created is when it was created, alerts happened before.
func (g *Generator) base(id, title string, sev incident.Severity, tags ...string) incident.Incident {
	created := g.opts.Now
	return incident.Incident{
		TenantID:      g.opts.TenantID,
		ID:            id,
		Title:         title,
		Description:   "Synthetic incident of a load test (run " + g.opts.RunID + ").",
		Severity:      sev,
		Status:        incident.StatusActive,
		CustomTags:    append([]string{"Load test"}, tags...),
		WebURL:        "https://security.microsoft.com/incidents/" + id,
		CreatedAt:     created,
		LastUpdatedAt: created,
	}
}

func (g *Generator) alert(n int, id, title, category string, sev incident.Severity, techniques []string, source string, ago time.Duration, entities ...incident.Entity) incident.Alert {
	at := g.opts.Now.Add(-ago)
	return incident.Alert{
		ID:              fmt.Sprintf("da%s_%d", id, n),
		Title:           title,
		Severity:        sev,
		Status:          incident.StatusNew,
		Category:        category,
		DetectionSource: source,
		ServiceSource:   source,
		MitreTechniques: techniques,
		CreatedAt:       at,
		FirstActivityAt: at.Add(-5 * time.Minute),
		LastActivityAt:  at.Add(-time.Minute),
		Entities:        entities,
	}
}

func (g *Generator) phishing(id string) incident.Incident {
	victim := g.person()
	domain := pick(g.rng, badDomains)
	subject := fmt.Sprintf(pick(g.rng, lures), g.rng.IntN(100))
	link := fmt.Sprintf("https://%s/login?u=%s&t=%s", domain, victim.account, g.hexDigits(8))
	senderIP := g.publicIP()
	received := g.opts.Now.Add(-20 * time.Minute)
	msg := incident.Entity{
		Kind: incident.KindAnalyzedMessage, Verdict: incident.VerdictMalicious, RemediationStatus: incident.RemediationNone,
		Roles: []incident.Role{incident.RoleContextual},
		AnalyzedMessage: &incident.AnalyzedMessage{
			NetworkMessageID:       g.uuid(),
			InternetMessageID:      "<" + g.hexDigits(12) + "@mail." + domain + ">",
			Subject:                subject,
			SenderIP:               senderIP,
			P1Sender:               "no-reply@" + domain,
			P2Sender:               "no-reply@" + domain,
			RecipientEmailAddress:  victim.upn,
			URLs:                   []string{link},
			DeliveryAction:         "delivered",
			DeliveryLocation:       "inbox",
			AntiSpamDirection:      "inbound",
			ReceivedAt:             received,
			ThreatDetectionMethods: []string{"URL detonation"},
			Threats:                []string{"Phish"},
		},
	}
	mailbox := incident.Entity{Kind: incident.KindMailbox, Verdict: incident.VerdictUnknown, Roles: []incident.Role{incident.RoleDestination},
		Mailbox: &incident.Mailbox{PrimaryAddress: victim.upn, DisplayName: victim.display, UserAccount: victim.userAccount()}}
	url := incident.Entity{Kind: incident.KindURL, Verdict: incident.VerdictMalicious, Roles: []incident.Role{incident.RoleContextual},
		DetailedRoles: []string{"Link in email"}, URL: &incident.URL{URL: link}}
	inc := g.base(id, "Phishing email with credential-harvesting link delivered to "+victim.upn, incident.SeverityMedium, "Phishing")
	inc.Alerts = []incident.Alert{
		g.alert(1, id, "Email messages containing malicious URL removed after delivery", "InitialAccess", incident.SeverityMedium,
			[]string{"T1566.002"}, "microsoftDefenderForOffice365", 15*time.Minute,
			msg, mailbox, userEntity(victim, incident.RoleDestination, incident.VerdictUnknown), url,
			ipEntity(senderIP, incident.RoleSource, incident.VerdictSuspicious)),
		g.alert(2, id, "A potentially malicious URL click was detected", "InitialAccess", incident.SeverityHigh,
			[]string{"T1566.002", "T1204.001"}, "microsoftDefenderForOffice365", 5*time.Minute,
			userEntity(victim, incident.RoleCompromised, incident.VerdictSuspicious), url,
			ipEntity(senderIP, incident.RoleAttacker, incident.VerdictMalicious)),
	}
	return inc
}

func (g *Generator) malware(id string) incident.Incident {
	user := g.person()
	family := pick(g.rng, malware)
	dev := g.device(incident.RoleCompromised, incident.VerdictMalicious, user)
	name := fmt.Sprintf("%s_%s.exe", []string{"invoice", "setup", "update", "scan"}[g.rng.IntN(4)], g.hexDigits(6))
	path := `C:\Users\` + user.account + `\AppData\Local\Temp`
	file := &incident.File{
		FileName: name, FilePath: path, SHA1: g.hexDigits(40), SHA256: g.hexDigits(64), FileSize: int64(40_000 + g.rng.IntN(2_000_000)),
		MdeDeviceID: dev.Device.MdeDeviceID, DetectionStatus: "detected",
	}
	started := g.opts.Now.Add(-30 * time.Minute)
	proc := &incident.Process{
		ProcessID:              int64(1000 + g.rng.IntN(60000)),
		CommandLine:            fmt.Sprintf(`"%s\%s" /s /q`, path, name),
		ImageFile:              &incident.File{FileName: name, FilePath: path, SHA1: file.SHA1, SHA256: file.SHA256},
		ParentProcessID:        int64(1000 + g.rng.IntN(60000)),
		ParentProcessImageFile: &incident.File{FileName: "explorer.exe", FilePath: `C:\Windows`},
		CreatedAt:              started,
		UserAccount:            &incident.UserAccount{AccountName: user.account, DomainName: "CONTOSO"},
		MdeDeviceID:            dev.Device.MdeDeviceID,
		DetectionStatus:        "detected",
	}
	c2 := g.publicIP()
	inc := g.base(id, fmt.Sprintf("%s malware was detected on %s", family, dev.Device.DNSName), incident.SeverityHigh, "Malware")
	inc.Alerts = []incident.Alert{
		g.alert(1, id, fmt.Sprintf("'%s' malware was detected", family), "Malware", incident.SeverityMedium,
			[]string{"T1204.002"}, "antivirus", 25*time.Minute,
			dev, incident.Entity{Kind: incident.KindFile, Verdict: incident.VerdictMalicious, RemediationStatus: incident.RemediationNotFound,
				Roles: []incident.Role{incident.RoleContextual}, File: file}),
		g.alert(2, id, "Suspicious process executed and contacted a command-and-control server", "Execution", incident.SeverityHigh,
			[]string{"T1059.001", "T1071.001"}, "microsoftDefenderForEndpoint", 20*time.Minute,
			dev, incident.Entity{Kind: incident.KindProcess, Verdict: incident.VerdictMalicious, Roles: []incident.Role{incident.RoleSuspicious}, Process: proc},
			ipEntity(c2, incident.RoleCommandAndControl, incident.VerdictMalicious)),
	}
	inc.Alerts[0].ThreatFamily = family
	return inc
}

func (g *Generator) compromisedUser(id string) incident.Incident {
	victim := g.person()
	app := cloudApps[g.rng.IntN(len(cloudApps))]
	attacker := g.publicIP()
	inc := g.base(id, "Sign-in from an unfamiliar location followed by mass file download by "+victim.upn, incident.SeverityHigh, "Identity")
	appEntity := incident.Entity{Kind: incident.KindCloudApplication, Verdict: incident.VerdictUnknown, Roles: []incident.Role{incident.RoleContextual},
		CloudApplication: &incident.CloudApplication{AppID: app.id, DisplayName: app.name, InstanceID: 0, InstanceName: app.name}}
	inc.Alerts = []incident.Alert{
		g.alert(1, id, "Unfamiliar sign-in properties", "CredentialAccess", incident.SeverityMedium,
			[]string{"T1078.004"}, "azureAdIdentityProtection", 40*time.Minute,
			userEntity(victim, incident.RoleCompromised, incident.VerdictSuspicious),
			ipEntity(attacker, incident.RoleAttacker, incident.VerdictSuspicious), appEntity),
		g.alert(2, id, "Mass download by a single user", "Exfiltration", incident.SeverityHigh,
			[]string{"T1530"}, "microsoftCloudAppSecurity", 10*time.Minute,
			userEntity(victim, incident.RoleCompromised, incident.VerdictMalicious),
			ipEntity(attacker, incident.RoleAttacker, incident.VerdictMalicious), appEntity),
	}
	return inc
}

func (g *Generator) benignAdmin(id string) incident.Incident {
	admin := g.person()
	admin.upn = "adm-" + admin.upn
	tool := pick(g.rng, adminTools)
	dev := g.device(incident.RoleContextual, incident.VerdictNoThreatsFound, admin)
	inc := g.base(id, fmt.Sprintf("Administrative tool %s used on %s", tool, dev.Device.DNSName), incident.SeverityLow, "Admin activity")
	inc.Alerts = []incident.Alert{
		g.alert(1, id, "Suspicious use of "+tool, "LateralMovement", incident.SeverityLow,
			[]string{"T1569.002"}, "microsoftDefenderForEndpoint", 30*time.Minute,
			userEntity(admin, incident.RoleContextual, incident.VerdictNoThreatsFound), dev),
	}
	return inc
}
