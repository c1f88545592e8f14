package incident

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on one incident. Defender incidents stay far below them; they bound the work of hostile input.
const (
	// MaxAlerts is the most alerts one incident may have.
	MaxAlerts = 1000
	// MaxEntitiesPerAlert is the most entities one alert may have.
	MaxEntitiesPerAlert = 5000
	// maxTitleRunes is the longest title of an incident or alert, in characters.
	maxTitleRunes = 1024
)

var (
	// idPattern is what tenant, incident and alert ids may look like: they end up in workflow ids, URLs
	// and logs. (Defender alert ids look like da637578995287051192_756343937.)
	idPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	// techniquePattern is a MITRE ATT&CK technique or sub-technique id.
	techniquePattern = regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)
)

// Validate checks an incident strictly: required fields, known enum values, well-formed identifiers,
// timestamps, addresses and hashes, unique alert ids, valid UTF-8 without NUL bytes, and the size limits.
// It returns nil or a ParseErrors listing up to 20 problems, each with the JSON path of the field in the
// native format ($.alerts[0].entities[3].verdict).
func (i *Incident) Validate() error {
	probs := &problems{}
	validateIncident(i, "$", fieldNames{}, probs)
	return probs.err()
}

// fieldNames spells the model's fields in JSON paths as the input spelled them, so that a problem found in
// a Graph document names the Graph field (displayName, not title).
type fieldNames struct{ graph bool }

// graphFieldNames maps scope.field of the model to the JSON path suffix of the Graph field it came from,
// relative to the object the scope names (for an entity's details: relative to the evidence object). Fields
// not listed have the same name in both.
var graphFieldNames = map[string]string{
	"incident.title":         ".displayName",
	"incident.webUrl":        ".incidentWebUrl",
	"incident.createdAt":     ".createdDateTime",
	"incident.lastUpdatedAt": ".lastUpdateDateTime",

	"alert.threatFamily":    ".threatFamilyName",
	"alert.webUrl":          ".alertWebUrl",
	"alert.createdAt":       ".createdDateTime",
	"alert.firstActivityAt": ".firstActivityDateTime",
	"alert.lastActivityAt":  ".lastActivityDateTime",
	"alert.entities":        ".evidence",

	"entity.kind":      `["@odata.type"]`,
	"entity.createdAt": ".createdDateTime",

	"device.dnsName":     ".deviceDnsName",
	"device.ipAddresses": ".ipInterfaces",

	"user.accountName":       ".userAccount.accountName",
	"user.domainName":        ".userAccount.domainName",
	"user.userSid":           ".userAccount.userSid",
	"user.azureAdUserId":     ".userAccount.azureAdUserId",
	"user.userPrincipalName": ".userAccount.userPrincipalName",
	"user.displayName":       ".userAccount.displayName",

	"analyzedMessage.p1Sender":   ".p1Sender.emailAddress",
	"analyzedMessage.p2Sender":   ".p2Sender.emailAddress",
	"analyzedMessage.receivedAt": ".receivedDateTime",

	"file.fileName":  ".fileDetails.fileName",
	"file.filePath":  ".fileDetails.filePath",
	"file.sha1":      ".fileDetails.sha1",
	"file.sha256":    ".fileDetails.sha256",
	"file.fileSize":  ".fileDetails.fileSize",
	"file.publisher": ".fileDetails.filePublisher",
	"file.signer":    ".fileDetails.signer",
	// fileDetails is a file nested in a process (imageFile, parentProcessImageFile).
	"fileDetails.publisher": ".filePublisher",

	"process.commandLine":      ".processCommandLine",
	"process.processCreatedAt": ".processCreationDateTime",

	"ip.address":     ".ipAddress",
	"ip.countryCode": ".countryLetterCode",

	"registryKey.key":  ".registryKey",
	"registryKey.hive": ".registryHive",

	"registryValue.key":       ".registryKey",
	"registryValue.hive":      ".registryHive",
	"registryValue.valueName": ".registryValueName",
	"registryValue.value":     ".registryValue",
	"registryValue.valueType": ".registryValueType",

	"generic.type": `["@odata.type"]`,
}

// field returns the JSON path suffix of field in scope ("incident", "alert", "entity", an entity kind,
// "userAccount" or "fileDetails").
func (n fieldNames) field(scope, field string) string {
	if n.graph {
		if s, ok := graphFieldNames[scope+"."+field]; ok {
			return s
		}
	}
	return keyPath("", field)
}

// detail returns the JSON path suffix of an entity's detail object: native entities nest it under the
// kind's name, Graph evidence has its fields in the evidence object itself.
func (n fieldNames) detail(kind EntityKind) string {
	if n.graph {
		return ""
	}
	return keyPath("", string(kind))
}

// oneOf renders field names for "needs a, b or c".
func (n fieldNames) oneOf(scope string, fields ...string) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = strings.TrimPrefix(n.field(scope, f), ".")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// validator checks one incident and adds its problems to probs.
type validator struct {
	probs *problems
	names fieldNames
}

func validateIncident(i *Incident, path string, names fieldNames, probs *problems) {
	v := &validator{probs: probs, names: names}
	at := func(field string) string { return path + names.field("incident", field) }

	v.id(at("tenantId"), "tenant id", i.TenantID)
	v.id(at("id"), "incident id", i.ID)
	v.title(at("title"), i.Title)
	v.text(at("description"), i.Description)
	checkEnum(v, at("severity"), "severity", i.Severity, severities, true)
	checkEnum(v, at("status"), "incident status", i.Status, incidentStatuses, true)
	checkEnum(v, at("classification"), "classification", i.Classification, classifications, false)
	checkEnum(v, at("determination"), "determination", i.Determination, determinations, false)
	v.text(at("assignedTo"), i.AssignedTo)
	v.texts(at("customTags"), i.CustomTags)
	v.texts(at("systemTags"), i.SystemTags)
	v.webURL(at("webUrl"), i.WebURL)
	if i.RedirectIncidentID != "" {
		v.id(at("redirectIncidentId"), "redirect incident id", i.RedirectIncidentID)
	}
	v.time(at("createdAt"), "creation time", i.CreatedAt, true)
	v.time(at("lastUpdatedAt"), "last update time", i.LastUpdatedAt, false)

	alerts := i.Alerts
	if len(alerts) > MaxAlerts {
		problem, fix := tooManyAlerts(len(alerts))
		v.add(at("alerts"), problem, fix)
		alerts = alerts[:MaxAlerts]
	}
	firstIndex := map[string]int{}
	for j := range alerts {
		if v.probs.full() {
			return
		}
		a := &alerts[j]
		alertPath := indexPath(at("alerts"), j)
		if first, dup := firstIndex[a.ID]; dup && a.ID != "" {
			v.add(alertPath+names.field("alert", "id"),
				fmt.Sprintf("duplicate alert id %s (alert %d has it too)", quote(a.ID), first),
				"give each alert its own id, or remove the copy")
		} else {
			firstIndex[a.ID] = j
		}
		v.alert(a, alertPath)
	}
}

func (v *validator) alert(a *Alert, path string) {
	at := func(field string) string { return path + v.names.field("alert", field) }
	v.id(at("id"), "alert id", a.ID)
	v.title(at("title"), a.Title)
	v.text(at("description"), a.Description)
	checkEnum(v, at("severity"), "severity", a.Severity, severities, true)
	checkEnum(v, at("status"), "alert status", a.Status, alertStatuses, false)
	checkEnum(v, at("classification"), "classification", a.Classification, classifications, false)
	checkEnum(v, at("determination"), "determination", a.Determination, determinations, false)
	v.text(at("category"), a.Category)
	v.text(at("detectionSource"), a.DetectionSource)
	v.text(at("detectorId"), a.DetectorID)
	v.text(at("serviceSource"), a.ServiceSource)
	for k, t := range a.MitreTechniques {
		p := indexPath(at("mitreTechniques"), k)
		if v.text(p, t) && !techniquePattern.MatchString(t) {
			v.add(p, fmt.Sprintf("%s is not a MITRE ATT&CK technique id", quote(t)),
				"write it like T1566 or T1566.001")
		}
	}
	v.text(at("threatFamily"), a.ThreatFamily)
	v.text(at("recommendedActions"), a.RecommendedActions)
	v.webURL(at("webUrl"), a.WebURL)
	v.time(at("createdAt"), "creation time", a.CreatedAt, true)
	v.time(at("firstActivityAt"), "first activity time", a.FirstActivityAt, false)
	v.time(at("lastActivityAt"), "last activity time", a.LastActivityAt, false)

	entities := a.Entities
	if len(entities) > MaxEntitiesPerAlert {
		problem, fix := tooManyEntities(len(entities))
		v.add(at("entities"), problem, fix)
		entities = entities[:MaxEntitiesPerAlert]
	}
	for k := range entities {
		if v.probs.full() {
			return
		}
		v.entity(&entities[k], indexPath(at("entities"), k))
	}
}

// tooManyAlerts and tooManyEntities are the problem and the fix of an incident or alert over the limits.
func tooManyAlerts(n int) (problem, fix string) {
	return fmt.Sprintf("%d alerts; at most %d are allowed", n, MaxAlerts),
		"split the incident or drop the least relevant alerts"
}

func tooManyEntities(n int) (problem, fix string) {
	return fmt.Sprintf("%d entities; at most %d are allowed per alert", n, MaxEntitiesPerAlert),
		"drop the least relevant evidence"
}

// detailPointers lists the detail pointers of an entity that are set, by the JSON name of each.
func detailPointers(e *Entity) []EntityKind {
	set := []struct {
		kind EntityKind
		set  bool
	}{
		{KindDevice, e.Device != nil}, {KindUser, e.User != nil}, {KindMailbox, e.Mailbox != nil},
		{KindAnalyzedMessage, e.AnalyzedMessage != nil}, {KindFile, e.File != nil},
		{KindProcess, e.Process != nil}, {KindIP, e.IP != nil}, {KindURL, e.URL != nil},
		{KindOAuthApplication, e.OAuthApplication != nil}, {KindCloudApplication, e.CloudApplication != nil},
		{KindRegistryKey, e.RegistryKey != nil}, {KindRegistryValue, e.RegistryValue != nil},
		{KindSecurityGroup, e.SecurityGroup != nil}, {KindMailCluster, e.MailCluster != nil},
		{KindGeneric, e.Generic != nil},
	}
	var kinds []EntityKind
	for _, s := range set {
		if s.set {
			kinds = append(kinds, s.kind)
		}
	}
	return kinds
}

func (v *validator) entity(e *Entity, path string) {
	at := func(field string) string { return path + v.names.field("entity", field) }
	if !v.text(at("kind"), string(e.Kind)) {
		return
	}
	if e.Kind == "" {
		v.add(at("kind"), "entity kind is missing", "set kind to one of: "+list(kinds))
		return
	}
	if !e.Kind.Valid() {
		v.add(at("kind"), fmt.Sprintf("unknown entity kind %s", quote(string(e.Kind))),
			"use one of: "+list(kinds)+"; put evidence of other types in a generic entity")
		return
	}
	set := detailPointers(e)
	if !slices.Contains(set, e.Kind) {
		v.add(path+v.names.detail(e.Kind), fmt.Sprintf("an entity of kind %s needs its %q object", e.Kind, e.Kind),
			fmt.Sprintf("add the %q object with the entity's details", e.Kind))
	}
	for _, k := range set {
		if k != e.Kind {
			v.add(path+keyPath("", string(k)), fmt.Sprintf("an entity of kind %s must not also have a %q object", e.Kind, k),
				fmt.Sprintf("remove it, or make it an entity of kind %s of its own", k))
		}
	}
	if len(set) != 1 || set[0] != e.Kind {
		return
	}

	checkEnum(v, at("verdict"), "verdict", e.Verdict, verdicts, false)
	checkEnum(v, at("remediationStatus"), "remediation status", e.RemediationStatus, remediationStatuses, false)
	for k, r := range e.Roles {
		p := indexPath(at("roles"), k)
		if !v.text(p, string(r)) {
			continue
		}
		if !r.Valid() {
			v.add(p, fmt.Sprintf("unknown role %s", quote(string(r))), "use one of: "+list(roles))
		}
	}
	v.texts(at("detailedRoles"), e.DetailedRoles)
	v.texts(at("tags"), e.Tags)
	v.time(at("createdAt"), "creation time", e.CreatedAt, false)

	base := path + v.names.detail(e.Kind)
	switch e.Kind {
	case KindDevice:
		v.device(e.Device, base)
	case KindUser:
		v.user(e.User, base)
	case KindMailbox:
		v.mailbox(e.Mailbox, base)
	case KindAnalyzedMessage:
		v.analyzedMessage(e.AnalyzedMessage, base)
	case KindFile:
		v.file(e.File, base)
	case KindProcess:
		v.process(e.Process, base)
	case KindIP:
		v.ip(e.IP, base)
	case KindURL:
		v.url(e.URL, base)
	case KindOAuthApplication:
		o := e.OAuthApplication
		at := func(f string) string { return base + v.names.field("oauthApplication", f) }
		v.text(at("appId"), o.AppID)
		v.text(at("displayName"), o.DisplayName)
		v.text(at("objectId"), o.ObjectID)
		v.text(at("publisher"), o.Publisher)
	case KindCloudApplication:
		c := e.CloudApplication
		at := func(f string) string { return base + v.names.field("cloudApplication", f) }
		v.text(at("displayName"), c.DisplayName)
		v.text(at("instanceName"), c.InstanceName)
	case KindRegistryKey:
		r := e.RegistryKey
		at := func(f string) string { return base + v.names.field("registryKey", f) }
		v.text(at("key"), r.Key)
		v.text(at("hive"), r.Hive)
	case KindRegistryValue:
		r := e.RegistryValue
		at := func(f string) string { return base + v.names.field("registryValue", f) }
		v.text(at("key"), r.Key)
		v.text(at("hive"), r.Hive)
		v.text(at("valueName"), r.ValueName)
		v.text(at("value"), r.Value)
		v.text(at("valueType"), r.ValueType)
		v.text(at("mdeDeviceId"), r.MdeDeviceID)
	case KindSecurityGroup:
		g := e.SecurityGroup
		at := func(f string) string { return base + v.names.field("securityGroup", f) }
		v.text(at("displayName"), g.DisplayName)
		v.text(at("securityGroupId"), g.SecurityGroupID)
	case KindMailCluster:
		m := e.MailCluster
		at := func(f string) string { return base + v.names.field("mailCluster", f) }
		v.text(at("query"), m.Query)
		v.text(at("clusterBy"), m.ClusterBy)
		v.text(at("clusterByValue"), m.ClusterByValue)
		v.texts(at("networkMessageIds"), m.NetworkMessageIDs)
		v.nonNegative(at("emailCount"), m.EmailCount)
	case KindGeneric:
		v.generic(e.Generic, base)
	}
}

func (v *validator) device(d *Device, base string) {
	at := func(f string) string { return base + v.names.field("device", f) }
	v.text(at("mdeDeviceId"), d.MdeDeviceID)
	v.text(at("azureAdDeviceId"), d.AzureADDeviceID)
	v.text(at("dnsName"), d.DNSName)
	if d.MdeDeviceID == "" && d.AzureADDeviceID == "" && d.DNSName == "" {
		v.add(base, "a device needs "+v.names.oneOf("device", "mdeDeviceId", "azureAdDeviceId", "dnsName"),
			"add at least one of them")
	}
	v.text(at("osPlatform"), d.OSPlatform)
	v.text(at("osBuild"), d.OSBuild)
	v.text(at("riskScore"), d.RiskScore)
	v.text(at("healthStatus"), d.HealthStatus)
	for k := range d.LoggedOnUsers {
		v.userAccount(&d.LoggedOnUsers[k], indexPath(at("loggedOnUsers"), k), "userAccount")
	}
	for k, a := range d.IPAddresses {
		v.ipAddress(indexPath(at("ipAddresses"), k), a, false)
	}
}

func (v *validator) user(u *UserAccount, base string) {
	v.userAccount(u, base, "user")
	if u.UserPrincipalName == "" && u.AzureADUserID == "" && u.UserSID == "" && u.AccountName == "" {
		v.add(base, "a user needs "+v.names.oneOf("user", "userPrincipalName", "azureAdUserId", "userSid", "accountName"),
			"add at least one of them")
	}
}

// userAccount checks the text of an account. scope is "user" for a user entity (whose fields Graph nests in
// a userAccount object) and "userAccount" for an account nested in another entity.
func (v *validator) userAccount(u *UserAccount, base, scope string) {
	at := func(f string) string { return base + v.names.field(scope, f) }
	v.text(at("accountName"), u.AccountName)
	v.text(at("domainName"), u.DomainName)
	v.text(at("userSid"), u.UserSID)
	v.text(at("azureAdUserId"), u.AzureADUserID)
	v.text(at("userPrincipalName"), u.UserPrincipalName)
	v.text(at("displayName"), u.DisplayName)
}

func (v *validator) mailbox(m *Mailbox, base string) {
	at := func(f string) string { return base + v.names.field("mailbox", f) }
	if v.text(at("primaryAddress"), m.PrimaryAddress) {
		if m.PrimaryAddress == "" {
			v.add(at("primaryAddress"), "a mailbox needs its primary address", "add primaryAddress, like user@example.com")
		} else if !looksLikeEmail(m.PrimaryAddress) {
			v.add(at("primaryAddress"), fmt.Sprintf("%s is not an email address", quote(m.PrimaryAddress)),
				"write it like user@example.com")
		}
	}
	v.text(at("displayName"), m.DisplayName)
	if m.UserAccount != nil {
		v.userAccount(m.UserAccount, at("userAccount"), "userAccount")
	}
}

func (v *validator) analyzedMessage(m *AnalyzedMessage, base string) {
	at := func(f string) string { return base + v.names.field("analyzedMessage", f) }
	v.text(at("networkMessageId"), m.NetworkMessageID)
	v.text(at("internetMessageId"), m.InternetMessageID)
	if m.NetworkMessageID == "" && m.InternetMessageID == "" {
		v.add(base, "an email needs "+v.names.oneOf("analyzedMessage", "networkMessageId", "internetMessageId"),
			"add at least one of them")
	}
	v.text(at("subject"), m.Subject)
	if m.SenderIP != "" {
		v.ipAddress(at("senderIp"), m.SenderIP, false)
	}
	v.text(at("p1Sender"), m.P1Sender)
	v.text(at("p2Sender"), m.P2Sender)
	v.text(at("recipientEmailAddress"), m.RecipientEmailAddress)
	v.texts(at("urls"), m.URLs)
	v.nonNegative(at("attachmentsCount"), m.AttachmentsCount)
	for k, h := range m.AttachmentSHA256s {
		v.hash(indexPath(at("attachmentSha256s"), k), "SHA-256", h, 64)
	}
	v.text(at("deliveryAction"), m.DeliveryAction)
	v.text(at("deliveryLocation"), m.DeliveryLocation)
	v.text(at("antiSpamDirection"), m.AntiSpamDirection)
	v.time(at("receivedAt"), "receipt time", m.ReceivedAt, false)
	v.texts(at("threatDetectionMethods"), m.ThreatDetectionMethods)
	v.texts(at("threats"), m.Threats)
}

func (v *validator) file(f *File, base string) {
	v.fileDetails(f, base, "file")
	at := func(name string) string { return base + v.names.field("file", name) }
	if f.SHA1 == "" && f.SHA256 == "" && f.FileName == "" {
		v.add(base, "a file needs "+v.names.oneOf("file", "sha1", "sha256", "fileName"), "add at least one of them")
	}
	v.text(at("mdeDeviceId"), f.MdeDeviceID)
	v.text(at("detectionStatus"), f.DetectionStatus)
}

// fileDetails checks the fields a file entity shares with the image files of a process; scope is "file"
// or "fileDetails" (a file nested in a process).
func (v *validator) fileDetails(f *File, base, scope string) {
	at := func(name string) string { return base + v.names.field(scope, name) }
	v.text(at("fileName"), f.FileName)
	v.text(at("filePath"), f.FilePath)
	v.hash(at("sha1"), "SHA-1", f.SHA1, 40)
	v.hash(at("sha256"), "SHA-256", f.SHA256, 64)
	v.nonNegative(at("fileSize"), f.FileSize)
	v.text(at("publisher"), f.Publisher)
	v.text(at("signer"), f.Signer)
}

func (v *validator) process(p *Process, base string) {
	at := func(f string) string { return base + v.names.field("process", f) }
	v.nonNegative(at("processId"), p.ProcessID)
	v.text(at("commandLine"), p.CommandLine)
	if p.ImageFile != nil {
		v.fileDetails(p.ImageFile, at("imageFile"), "fileDetails")
	}
	v.nonNegative(at("parentProcessId"), p.ParentProcessID)
	if p.ParentProcessImageFile != nil {
		v.fileDetails(p.ParentProcessImageFile, at("parentProcessImageFile"), "fileDetails")
	}
	v.time(at("processCreatedAt"), "process creation time", p.CreatedAt, false)
	if p.UserAccount != nil {
		v.userAccount(p.UserAccount, at("userAccount"), "userAccount")
	}
	v.text(at("mdeDeviceId"), p.MdeDeviceID)
	v.text(at("detectionStatus"), p.DetectionStatus)
}

func (v *validator) ip(ip *IP, base string) {
	at := func(f string) string { return base + v.names.field("ip", f) }
	v.ipAddress(at("address"), ip.Address, true)
	v.text(at("countryCode"), ip.CountryCode)
}

func (v *validator) url(u *URL, base string) {
	at := base + v.names.field("url", "url")
	if !v.text(at, u.URL) {
		return
	}
	if u.URL == "" {
		v.add(at, "a URL entity needs its URL", "add url, like https://example.com/path")
		return
	}
	parsed, err := url.Parse(u.URL)
	if err != nil || !parsed.IsAbs() {
		v.add(at, fmt.Sprintf("%s is not an absolute URL", quote(u.URL)),
			"write the whole URL with its scheme, like https://example.com/path")
	}
}

func (v *validator) generic(g *Generic, base string) {
	at := base + v.names.field("generic", "type")
	if v.text(at, g.Type) && strings.TrimSpace(g.Type) == "" {
		v.add(at, "a generic entity needs its type", "set type to the source's type name")
	}
	propsPath := base + keyPath("", "properties")
	if v.names.graph {
		propsPath = base // Graph has the properties in the evidence object itself
	}
	for _, k := range sortedKeys(g.Properties) {
		p := keyPath(propsPath, k)
		if v.text(p, k) {
			v.anyText(p, g.Properties[k])
		}
	}
}

// anyText checks every string (values and keys) in a decoded JSON value.
func (v *validator) anyText(path string, value any) {
	switch x := value.(type) {
	case string:
		v.text(path, x)
	case []any:
		for k, e := range x {
			v.anyText(indexPath(path, k), e)
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			p := keyPath(path, k)
			if v.text(p, k) {
				v.anyText(p, x[k])
			}
		}
	}
}

func (v *validator) add(path, problem, fix string) { v.probs.add(path, problem, fix) }

// text checks that s is valid UTF-8 without NUL bytes and reports whether it is.
func (v *validator) text(path, s string) bool {
	if !utf8.ValidString(s) {
		v.add(path, "text is not valid UTF-8", "save the document as UTF-8")
		return false
	}
	if strings.IndexByte(s, 0) >= 0 {
		v.add(path, "text contains a NUL byte", `remove the NUL characters (\u0000)`)
		return false
	}
	return true
}

func (v *validator) texts(path string, values []string) {
	for k, s := range values {
		v.text(indexPath(path, k), s)
	}
}

func (v *validator) id(path, what, id string) {
	if !v.text(path, id) {
		return
	}
	if id == "" {
		v.add(path, what+" is missing", "set it")
		return
	}
	if !idPattern.MatchString(id) {
		v.add(path, fmt.Sprintf("%s %s is not 1 to 128 characters of A-Z a-z 0-9 . _ : -", what, quote(id)),
			"use the id exactly as the source gives it")
	}
}

func (v *validator) title(path, title string) {
	if !v.text(path, title) {
		return
	}
	if strings.TrimSpace(title) == "" {
		v.add(path, "title is missing", "set a short description of the incident or alert")
		return
	}
	if n := utf8.RuneCountInString(title); n > maxTitleRunes {
		v.add(path, fmt.Sprintf("title is %d characters long; at most %d are allowed", n, maxTitleRunes),
			"shorten it and move the details to the description")
	}
}

func checkEnum[T ~string](v *validator, path, what string, value T, known []T, required bool) {
	if !v.text(path, string(value)) {
		return
	}
	if value == "" {
		if required {
			v.add(path, what+" is missing", "set it to one of: "+list(known))
		}
		return
	}
	if !slices.Contains(known, value) {
		v.add(path, fmt.Sprintf("unknown %s %s", what, quote(string(value))), "use one of: "+list(known))
	}
}

// time checks a timestamp: set when required, and when set within the years 1970 to 9999 (beyond those the
// native JSON cannot hold it, and before them it is a mistake).
func (v *validator) time(path, what string, t time.Time, required bool) {
	if t.IsZero() {
		if required {
			v.add(path, what+" is missing", "set it to an RFC 3339 timestamp, like 2024-05-01T12:00:00Z")
		}
		return
	}
	if y := t.UTC().Year(); y < 1970 || y > 9999 {
		v.add(path, fmt.Sprintf("%s %s is out of range", what, t.UTC().Format(time.RFC3339Nano)),
			"use a time between 1970 and 9999")
	}
}

func (v *validator) webURL(path, s string) {
	if !v.text(path, s) || s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.add(path, fmt.Sprintf("%s is not an http or https URL", quote(s)),
			"use the portal link, like https://security.microsoft.com/incidents/123")
	}
}

func (v *validator) ipAddress(path, s string, required bool) {
	if !v.text(path, s) {
		return
	}
	if s == "" {
		if required {
			v.add(path, "IP address is missing", "set it, like 203.0.113.7 or 2001:db8::7")
		}
		return
	}
	if _, err := netip.ParseAddr(s); err != nil {
		v.add(path, fmt.Sprintf("%s is not an IP address", quote(s)), "write it like 203.0.113.7 or 2001:db8::7")
	}
}

// hash checks an optional hex digest of the given length.
func (v *validator) hash(path, algorithm, s string, length int) {
	if !v.text(path, s) || s == "" {
		return
	}
	if len(s) != length || !isHex(s) {
		v.add(path, fmt.Sprintf("%s is not a %s hash (%d hex digits)", quote(s), algorithm, length),
			"copy the hash exactly, or leave it out")
	}
}

func (v *validator) nonNegative(path string, n int64) {
	if n < 0 {
		v.add(path, fmt.Sprintf("%d is negative", n), "use zero or a positive number")
	}
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

// looksLikeEmail is a loose check of an email address: text, one @, text, and no spaces.
func looksLikeEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.ContainsAny(s, " \t\r\n") && !strings.Contains(domain, "@")
}
