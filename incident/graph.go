package incident

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// This file maps the Microsoft Graph security API v1.0 JSON of incidents (GET /security/incidents/{id}
// ?$expand=alerts, or a page of GET /security/incidents?$expand=alerts) into the model. The structs below
// hold the Graph fields the model uses; Graph adds fields over time, so fields not listed are ignored, but
// every field listed is type-checked (see shape.go) and then validated with the model.

// graphList is a page of a Graph collection.
type graphList struct {
	Value []graphIncident `json:"value"`
}

// graphIncident is microsoft.graph.security.incident.
type graphIncident struct {
	ID                 string       `json:"id"`
	TenantID           string       `json:"tenantId"`
	DisplayName        string       `json:"displayName"`
	Description        string       `json:"description"`
	Severity           string       `json:"severity"`
	Status             string       `json:"status"`
	Classification     string       `json:"classification"`
	Determination      string       `json:"determination"`
	AssignedTo         string       `json:"assignedTo"`
	CustomTags         []string     `json:"customTags"`
	SystemTags         []string     `json:"systemTags"`
	IncidentWebURL     string       `json:"incidentWebUrl"`
	RedirectIncidentID string       `json:"redirectIncidentId"`
	CreatedDateTime    time.Time    `json:"createdDateTime"`
	LastUpdateDateTime time.Time    `json:"lastUpdateDateTime"`
	Alerts             []graphAlert `json:"alerts"`
}

// graphAlert is microsoft.graph.security.alert. Its evidence is polymorphic and decoded one by one.
type graphAlert struct {
	ID                    string            `json:"id"`
	IncidentID            string            `json:"incidentId"`
	TenantID              string            `json:"tenantId"`
	Title                 string            `json:"title"`
	Description           string            `json:"description"`
	Severity              string            `json:"severity"`
	Status                string            `json:"status"`
	Classification        string            `json:"classification"`
	Determination         string            `json:"determination"`
	Category              string            `json:"category"`
	DetectionSource       string            `json:"detectionSource"`
	DetectorID            string            `json:"detectorId"`
	ServiceSource         string            `json:"serviceSource"`
	MitreTechniques       []string          `json:"mitreTechniques"`
	ThreatFamilyName      string            `json:"threatFamilyName"`
	RecommendedActions    string            `json:"recommendedActions"`
	AlertWebURL           string            `json:"alertWebUrl"`
	CreatedDateTime       time.Time         `json:"createdDateTime"`
	FirstActivityDateTime time.Time         `json:"firstActivityDateTime"`
	LastActivityDateTime  time.Time         `json:"lastActivityDateTime"`
	Evidence              []json.RawMessage `json:"evidence"`
}

// graphEvidence holds the fields common to every microsoft.graph.security.alertEvidence type.
type graphEvidence struct {
	ODataType         string    `json:"@odata.type"`
	CreatedDateTime   time.Time `json:"createdDateTime"`
	Verdict           string    `json:"verdict"`
	RemediationStatus string    `json:"remediationStatus"`
	Roles             []string  `json:"roles"`
	DetailedRoles     []string  `json:"detailedRoles"`
	Tags              []string  `json:"tags"`
}

// graphEvidenceFields are the JSON names of graphEvidence's fields; a generic entity keeps the others.
var graphEvidenceFields = []string{"@odata.type", "createdDateTime", "verdict", "remediationStatus", "roles", "detailedRoles", "tags"}

type graphUserAccount struct {
	AccountName       string `json:"accountName"`
	DomainName        string `json:"domainName"`
	UserSID           string `json:"userSid"`
	AzureADUserID     string `json:"azureAdUserId"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName"`
}

type graphFileDetails struct {
	FileName      string `json:"fileName"`
	FilePath      string `json:"filePath"`
	SHA1          string `json:"sha1"`
	SHA256        string `json:"sha256"`
	FileSize      int64  `json:"fileSize"`
	FilePublisher string `json:"filePublisher"`
	Signer        string `json:"signer"`
}

type graphEmailSender struct {
	EmailAddress string `json:"emailAddress"`
	DisplayName  string `json:"displayName"`
	DomainName   string `json:"domainName"`
}

type graphDeviceEvidence struct {
	graphEvidence
	MdeDeviceID     string `json:"mdeDeviceId"`
	AzureADDeviceID string `json:"azureAdDeviceId"`
	DeviceDNSName   string `json:"deviceDnsName"`
	OSPlatform      string `json:"osPlatform"`
	OSBuild         int64  `json:"osBuild"`
	RiskScore       string `json:"riskScore"`
	HealthStatus    string `json:"healthStatus"`
	// LoggedOnUsers are Graph loggedOnUser objects: accountName and domainName.
	LoggedOnUsers []graphUserAccount `json:"loggedOnUsers"`
	IPInterfaces  []string           `json:"ipInterfaces"`
}

type graphUserEvidence struct {
	graphEvidence
	UserAccount *graphUserAccount `json:"userAccount"`
}

type graphMailboxEvidence struct {
	graphEvidence
	PrimaryAddress string            `json:"primaryAddress"`
	DisplayName    string            `json:"displayName"`
	UserAccount    *graphUserAccount `json:"userAccount"`
}

type graphAnalyzedMessageEvidence struct {
	graphEvidence
	NetworkMessageID       string            `json:"networkMessageId"`
	InternetMessageID      string            `json:"internetMessageId"`
	Subject                string            `json:"subject"`
	SenderIP               string            `json:"senderIp"`
	P1Sender               *graphEmailSender `json:"p1Sender"`
	P2Sender               *graphEmailSender `json:"p2Sender"`
	RecipientEmailAddress  string            `json:"recipientEmailAddress"`
	URLs                   []string          `json:"urls"`
	AttachmentsCount       int64             `json:"attachmentsCount"`
	DeliveryAction         string            `json:"deliveryAction"`
	DeliveryLocation       string            `json:"deliveryLocation"`
	AntiSpamDirection      string            `json:"antiSpamDirection"`
	ReceivedDateTime       time.Time         `json:"receivedDateTime"`
	ThreatDetectionMethods []string          `json:"threatDetectionMethods"`
	Threats                []string          `json:"threats"`
}

type graphFileEvidence struct {
	graphEvidence
	FileDetails     *graphFileDetails `json:"fileDetails"`
	MdeDeviceID     string            `json:"mdeDeviceId"`
	DetectionStatus string            `json:"detectionStatus"`
}

type graphProcessEvidence struct {
	graphEvidence
	ProcessID               int64             `json:"processId"`
	ProcessCommandLine      string            `json:"processCommandLine"`
	ImageFile               *graphFileDetails `json:"imageFile"`
	ParentProcessID         int64             `json:"parentProcessId"`
	ParentProcessImageFile  *graphFileDetails `json:"parentProcessImageFile"`
	ProcessCreationDateTime time.Time         `json:"processCreationDateTime"`
	UserAccount             *graphUserAccount `json:"userAccount"`
	MdeDeviceID             string            `json:"mdeDeviceId"`
	DetectionStatus         string            `json:"detectionStatus"`
}

type graphIPEvidence struct {
	graphEvidence
	IPAddress         string `json:"ipAddress"`
	CountryLetterCode string `json:"countryLetterCode"`
}

type graphURLEvidence struct {
	graphEvidence
	URL string `json:"url"`
}

type graphOAuthApplicationEvidence struct {
	graphEvidence
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
	ObjectID    string `json:"objectId"`
	Publisher   string `json:"publisher"`
}

type graphCloudApplicationEvidence struct {
	graphEvidence
	AppID        int64  `json:"appId"`
	DisplayName  string `json:"displayName"`
	InstanceID   int64  `json:"instanceId"`
	InstanceName string `json:"instanceName"`
}

type graphRegistryKeyEvidence struct {
	graphEvidence
	RegistryKey  string `json:"registryKey"`
	RegistryHive string `json:"registryHive"`
}

type graphRegistryValueEvidence struct {
	graphEvidence
	MdeDeviceID       string `json:"mdeDeviceId"`
	RegistryKey       string `json:"registryKey"`
	RegistryHive      string `json:"registryHive"`
	RegistryValue     string `json:"registryValue"`
	RegistryValueName string `json:"registryValueName"`
	RegistryValueType string `json:"registryValueType"`
}

type graphSecurityGroupEvidence struct {
	graphEvidence
	SecurityGroupID string `json:"securityGroupId"`
	DisplayName     string `json:"displayName"`
}

type graphMailClusterEvidence struct {
	graphEvidence
	Query             string   `json:"query"`
	ClusterBy         string   `json:"clusterBy"`
	ClusterByValue    string   `json:"clusterByValue"`
	NetworkMessageIDs []string `json:"networkMessageIds"`
	EmailCount        int64    `json:"emailCount"`
}

// graphEvidencePrefix starts the @odata.type of every evidence type the model knows.
const graphEvidencePrefix = "#microsoft.graph.security."

// graphIncidentToModel maps one Graph incident found at path into the model. Alerts carry their tenant in
// Graph but not in the model: an alert without one belongs to the incident's tenant, and an alert of
// another tenant is a problem. Problems that only Graph input can have (that one, an alert of another
// incident, evidence without a type or of the wrong shape, more alerts or evidence than allowed) are added
// to probs; everything else is left to validation.
func graphIncidentToModel(g *graphIncident, path string, probs *problems) Incident {
	inc := Incident{
		TenantID:           g.TenantID,
		ID:                 g.ID,
		Title:              g.DisplayName,
		Description:        g.Description,
		Severity:           Severity(graphEnum(g.Severity)),
		Status:             Status(graphEnum(g.Status)),
		Classification:     Classification(graphEnum(g.Classification)),
		Determination:      graphDetermination(g.Determination),
		AssignedTo:         g.AssignedTo,
		CustomTags:         g.CustomTags,
		SystemTags:         g.SystemTags,
		WebURL:             g.IncidentWebURL,
		RedirectIncidentID: g.RedirectIncidentID,
		CreatedAt:          g.CreatedDateTime,
		LastUpdatedAt:      g.LastUpdateDateTime,
		Alerts:             make([]Alert, 0, len(g.Alerts)),
		Source:             SourceGraph,
	}
	if g.Alerts == nil {
		// Graph leaves the alerts out unless asked for them; an incident without them has nothing to
		// guide a response with. An empty list ("alerts": []) is an incident whose alerts are gone.
		probs.add(path, "the incident has no alerts property: Graph returns the alerts only when asked",
			"fetch it with GET /security/incidents/{id}?$expand=alerts, or a list with /security/incidents?$expand=alerts")
		return inc
	}
	if len(g.Alerts) > MaxAlerts {
		// Refuse before the work of mapping them; validation then sees no alerts.
		problem, fix := tooManyAlerts(len(g.Alerts))
		probs.add(path+".alerts", problem, fix)
		return inc
	}
	for j := range g.Alerts {
		ga := &g.Alerts[j]
		alertPath := indexPath(path+".alerts", j)
		if ga.TenantID != "" && ga.TenantID != g.TenantID {
			probs.add(alertPath+".tenantId",
				fmt.Sprintf("alert tenant %s differs from the incident's tenant %s", quote(ga.TenantID), quote(g.TenantID)),
				"an incident's alerts must all belong to its tenant; export the incident again from that tenant")
		}
		if ga.IncidentID != "" && ga.IncidentID != g.ID {
			probs.add(alertPath+".incidentId",
				fmt.Sprintf("alert belongs to incident %s, not to %s", quote(ga.IncidentID), quote(g.ID)),
				"export the incident again with $expand=alerts, or move the alert to its incident")
		}
		inc.Alerts = append(inc.Alerts, graphAlertToModel(ga, alertPath, probs))
	}
	return inc
}

func graphAlertToModel(g *graphAlert, path string, probs *problems) Alert {
	a := Alert{
		ID:                 g.ID,
		Title:              g.Title,
		Description:        g.Description,
		Severity:           Severity(graphEnum(g.Severity)),
		Status:             Status(graphEnum(g.Status)),
		Classification:     Classification(graphEnum(g.Classification)),
		Determination:      graphDetermination(g.Determination),
		Category:           g.Category,
		DetectionSource:    graphEnum(g.DetectionSource),
		DetectorID:         g.DetectorID,
		ServiceSource:      graphEnum(g.ServiceSource),
		MitreTechniques:    g.MitreTechniques,
		ThreatFamily:       g.ThreatFamilyName,
		RecommendedActions: g.RecommendedActions,
		WebURL:             g.AlertWebURL,
		CreatedAt:          g.CreatedDateTime,
		FirstActivityAt:    g.FirstActivityDateTime,
		LastActivityAt:     g.LastActivityDateTime,
		Entities:           make([]Entity, 0, len(g.Evidence)),
	}
	if len(g.Evidence) > MaxEntitiesPerAlert {
		problem, fix := tooManyEntities(len(g.Evidence))
		probs.add(path+".evidence", problem, fix)
		return a
	}
	for k, raw := range g.Evidence {
		if probs.full() {
			break
		}
		if e, ok := graphEvidenceToEntity(raw, indexPath(path+".evidence", k), probs); ok {
			a.Entities = append(a.Entities, e)
		}
	}
	return a
}

// decodeGraph type-checks raw (found at path) against T, then decodes it. It reports false when there were
// problems.
func decodeGraph[T any](raw []byte, path string, probs *problems) (*T, bool) {
	before := len(probs.list)
	checkShape(raw, reflect.TypeFor[T](), path, false, probs)
	if len(probs.list) > before || probs.full() {
		return nil, false
	}
	var v T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		probs.add(path, "cannot decode: "+err.Error(), "correct the value")
		return nil, false
	}
	return &v, true
}

// graphEvidenceToEntity maps one evidence object. Evidence of a type the model does not know becomes a
// generic entity that keeps the object's fields.
func graphEvidenceToEntity(raw json.RawMessage, path string, probs *problems) (Entity, bool) {
	common, ok := decodeGraph[graphEvidence](raw, path, probs)
	if !ok {
		return Entity{}, false
	}
	if strings.TrimSpace(common.ODataType) == "" {
		probs.add(keyPath(path, "@odata.type"), "evidence has no @odata.type",
			"export the incident from Graph unchanged; each evidence object names its type, like #microsoft.graph.security.deviceEvidence")
		return Entity{}, false
	}

	switch strings.TrimPrefix(common.ODataType, graphEvidencePrefix) {
	case "deviceEvidence":
		g, ok := decodeGraph[graphDeviceEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindDevice)
		e.Device = &Device{
			MdeDeviceID:     g.MdeDeviceID,
			AzureADDeviceID: g.AzureADDeviceID,
			DNSName:         g.DeviceDNSName,
			OSPlatform:      g.OSPlatform,
			RiskScore:       graphEnum(g.RiskScore),
			HealthStatus:    graphEnum(g.HealthStatus),
			IPAddresses:     g.IPInterfaces,
		}
		if g.OSBuild != 0 {
			e.Device.OSBuild = strconv.FormatInt(g.OSBuild, 10)
		}
		for _, u := range g.LoggedOnUsers {
			e.Device.LoggedOnUsers = append(e.Device.LoggedOnUsers, *u.toModel())
		}
		return e, true
	case "userEvidence":
		g, ok := decodeGraph[graphUserEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindUser)
		e.User = g.UserAccount.toModel()
		if e.User == nil {
			e.User = &UserAccount{}
		}
		return e, true
	case "mailboxEvidence":
		g, ok := decodeGraph[graphMailboxEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindMailbox)
		e.Mailbox = &Mailbox{PrimaryAddress: g.PrimaryAddress, DisplayName: g.DisplayName, UserAccount: g.UserAccount.toModel()}
		return e, true
	case "analyzedMessageEvidence":
		g, ok := decodeGraph[graphAnalyzedMessageEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindAnalyzedMessage)
		e.AnalyzedMessage = &AnalyzedMessage{
			NetworkMessageID:       g.NetworkMessageID,
			InternetMessageID:      g.InternetMessageID,
			Subject:                g.Subject,
			SenderIP:               g.SenderIP,
			P1Sender:               g.P1Sender.address(),
			P2Sender:               g.P2Sender.address(),
			RecipientEmailAddress:  g.RecipientEmailAddress,
			URLs:                   g.URLs,
			AttachmentsCount:       g.AttachmentsCount,
			DeliveryAction:         g.DeliveryAction,
			DeliveryLocation:       g.DeliveryLocation,
			AntiSpamDirection:      g.AntiSpamDirection,
			ReceivedAt:             g.ReceivedDateTime,
			ThreatDetectionMethods: g.ThreatDetectionMethods,
			Threats:                g.Threats,
		}
		return e, true
	case "fileEvidence":
		g, ok := decodeGraph[graphFileEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindFile)
		e.File = g.FileDetails.toModel()
		if e.File == nil {
			e.File = &File{}
		}
		e.File.MdeDeviceID = g.MdeDeviceID
		e.File.DetectionStatus = graphEnum(g.DetectionStatus)
		return e, true
	case "processEvidence":
		g, ok := decodeGraph[graphProcessEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindProcess)
		e.Process = &Process{
			ProcessID:              g.ProcessID,
			CommandLine:            g.ProcessCommandLine,
			ImageFile:              g.ImageFile.toModel(),
			ParentProcessID:        g.ParentProcessID,
			ParentProcessImageFile: g.ParentProcessImageFile.toModel(),
			CreatedAt:              g.ProcessCreationDateTime,
			UserAccount:            g.UserAccount.toModel(),
			MdeDeviceID:            g.MdeDeviceID,
			DetectionStatus:        graphEnum(g.DetectionStatus),
		}
		return e, true
	case "ipEvidence":
		g, ok := decodeGraph[graphIPEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindIP)
		e.IP = &IP{Address: g.IPAddress, CountryCode: g.CountryLetterCode}
		return e, true
	case "urlEvidence":
		g, ok := decodeGraph[graphURLEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindURL)
		e.URL = &URL{URL: g.URL}
		return e, true
	case "oauthApplicationEvidence":
		g, ok := decodeGraph[graphOAuthApplicationEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindOAuthApplication)
		e.OAuthApplication = &OAuthApplication{AppID: g.AppID, DisplayName: g.DisplayName, ObjectID: g.ObjectID, Publisher: g.Publisher}
		return e, true
	case "cloudApplicationEvidence":
		g, ok := decodeGraph[graphCloudApplicationEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindCloudApplication)
		e.CloudApplication = &CloudApplication{AppID: g.AppID, DisplayName: g.DisplayName, InstanceID: g.InstanceID, InstanceName: g.InstanceName}
		return e, true
	case "registryKeyEvidence":
		g, ok := decodeGraph[graphRegistryKeyEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindRegistryKey)
		e.RegistryKey = &RegistryKey{Key: g.RegistryKey, Hive: g.RegistryHive}
		return e, true
	case "registryValueEvidence":
		g, ok := decodeGraph[graphRegistryValueEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindRegistryValue)
		e.RegistryValue = &RegistryValue{
			Key:         g.RegistryKey,
			Hive:        g.RegistryHive,
			ValueName:   g.RegistryValueName,
			Value:       g.RegistryValue,
			ValueType:   g.RegistryValueType,
			MdeDeviceID: g.MdeDeviceID,
		}
		return e, true
	case "securityGroupEvidence":
		g, ok := decodeGraph[graphSecurityGroupEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindSecurityGroup)
		e.SecurityGroup = &SecurityGroup{DisplayName: g.DisplayName, SecurityGroupID: g.SecurityGroupID}
		return e, true
	case "mailClusterEvidence":
		g, ok := decodeGraph[graphMailClusterEvidence](raw, path, probs)
		if !ok {
			return Entity{}, false
		}
		e := g.entity(KindMailCluster)
		e.MailCluster = &MailCluster{
			Query:             g.Query,
			ClusterBy:         g.ClusterBy,
			ClusterByValue:    g.ClusterByValue,
			NetworkMessageIDs: g.NetworkMessageIDs,
			EmailCount:        g.EmailCount,
		}
		return e, true
	}

	// A type this version does not model: keep it, with the fields the model has for every entity.
	props, ok := decodeGraph[map[string]any](raw, path, probs)
	if !ok {
		return Entity{}, false
	}
	for _, f := range graphEvidenceFields {
		delete(*props, f)
	}
	e := common.entity(KindGeneric)
	e.Generic = &Generic{Type: common.ODataType, Properties: *props}
	return e, true
}

// entity maps the common evidence fields.
func (g *graphEvidence) entity(kind EntityKind) Entity {
	e := Entity{
		Kind:              kind,
		Verdict:           Verdict(graphEnum(g.Verdict)),
		RemediationStatus: graphRemediationStatus(g.RemediationStatus),
		DetailedRoles:     g.DetailedRoles,
		Tags:              g.Tags,
		CreatedAt:         g.CreatedDateTime,
	}
	for _, r := range g.Roles {
		e.Roles = append(e.Roles, Role(graphEnum(r)))
	}
	return e
}

func (u *graphUserAccount) toModel() *UserAccount {
	if u == nil {
		return nil
	}
	return &UserAccount{
		AccountName:       u.AccountName,
		DomainName:        u.DomainName,
		UserSID:           u.UserSID,
		AzureADUserID:     u.AzureADUserID,
		UserPrincipalName: u.UserPrincipalName,
		DisplayName:       u.DisplayName,
	}
}

func (f *graphFileDetails) toModel() *File {
	if f == nil {
		return nil
	}
	return &File{
		FileName:  f.FileName,
		FilePath:  f.FilePath,
		SHA1:      f.SHA1,
		SHA256:    f.SHA256,
		FileSize:  f.FileSize,
		Publisher: f.FilePublisher,
		Signer:    f.Signer,
	}
}

// address returns the sender's email address; the model keeps only that of Graph's emailSender.
func (s *graphEmailSender) address() string {
	if s == nil {
		return ""
	}
	return s.EmailAddress
}

// graphEnum maps Graph's unknownFutureValue (a member newer than the client asked for) to the model's
// unknown value.
func graphEnum(s string) string {
	if s == graphUnknownFutureValue {
		return "unknown"
	}
	return s
}

func graphDetermination(s string) Determination {
	if d, ok := graphDeterminations[s]; ok {
		return d
	}
	return Determination(graphEnum(s))
}

// graphRemediationStatus maps unknownFutureValue to no status: the model has no unknown remediation
// status, and an empty one means the source did not say.
func graphRemediationStatus(s string) RemediationStatus {
	if s == graphUnknownFutureValue {
		return ""
	}
	return RemediationStatus(s)
}
