// Package incident holds the domain model of a security incident (an incident, its alerts and the
// evidence entities of each alert) and the parsers that build it from outside input: the Microsoft Graph
// security API v1.0 JSON that Defender XDR exports, and the compact native JSON of the same model.
//
// Everything that reaches this package comes from outside and is hostile until validated: parsing is
// strict and refuses bad input as a whole with an error that names the file, the JSON path and the fix.
package incident

import "time"

// Severity is the severity of an incident or alert (Graph alertSeverity).
type Severity string

// Severities, lowest first.
const (
	SeverityUnknown       Severity = "unknown"
	SeverityInformational Severity = "informational"
	SeverityLow           Severity = "low"
	SeverityMedium        Severity = "medium"
	SeverityHigh          Severity = "high"
)

// Status is the status of an incident or alert as the source reports it (Graph incidentStatus /
// alertStatus).
type Status string

// Statuses of incidents (Graph incidentStatus) and alerts (Graph alertStatus: new, inProgress, resolved).
const (
	StatusActive         Status = "active"
	StatusResolved       Status = "resolved"
	StatusInProgress     Status = "inProgress"
	StatusRedirected     Status = "redirected"
	StatusAwaitingAction Status = "awaitingAction"
	StatusNew            Status = "new"
	StatusUnknown        Status = "unknown"
)

// Classification is an analyst's verdict on an incident or alert (Graph alertClassification).
type Classification string

// Classifications, spelled as Graph v1 spells them.
const (
	ClassificationUnknown                       Classification = "unknown"
	ClassificationTruePositive                  Classification = "truePositive"
	ClassificationInformationalExpectedActivity Classification = "informationalExpectedActivity"
	ClassificationFalsePositive                 Classification = "falsePositive"
)

// Determination refines a classification (Graph alertDetermination).
type Determination string

// Determinations, spelled as Graph v1 spells them.
const (
	DeterminationUnknown                   Determination = "unknown"
	DeterminationAPT                       Determination = "apt"
	DeterminationMalware                   Determination = "malware"
	DeterminationSecurityPersonnel         Determination = "securityPersonnel"
	DeterminationSecurityTesting           Determination = "securityTesting"
	DeterminationUnwantedSoftware          Determination = "unwantedSoftware"
	DeterminationOther                     Determination = "other"
	DeterminationMultiStagedAttack         Determination = "multiStagedAttack"
	DeterminationCompromisedAccount        Determination = "compromisedAccount"
	DeterminationPhishing                  Determination = "phishing"
	DeterminationMaliciousUserActivity     Determination = "maliciousUserActivity"
	DeterminationNotMalicious              Determination = "notMalicious"
	DeterminationNotEnoughDataToValidate   Determination = "notEnoughDataToValidate"
	DeterminationConfirmedUserActivity     Determination = "confirmedUserActivity"
	DeterminationLineOfBusinessApplication Determination = "lineOfBusinessApplication"
)

// Verdict is the verdict on one piece of evidence (Graph evidenceVerdict).
type Verdict string

// Verdicts.
const (
	VerdictUnknown        Verdict = "unknown"
	VerdictSuspicious     Verdict = "suspicious"
	VerdictMalicious      Verdict = "malicious"
	VerdictNoThreatsFound Verdict = "noThreatsFound"
)

// RemediationStatus says what was already done to a piece of evidence (Graph
// evidenceRemediationStatus).
type RemediationStatus string

// Remediation statuses. The last six are members of Graph's evolvable enum that Graph sends only to clients
// asking for them (Prefer: include-unknown-enum-members).
const (
	RemediationNone                RemediationStatus = "none"
	RemediationRemediated          RemediationStatus = "remediated"
	RemediationPrevented           RemediationStatus = "prevented"
	RemediationBlocked             RemediationStatus = "blocked"
	RemediationNotFound            RemediationStatus = "notFound"
	RemediationActive              RemediationStatus = "active"
	RemediationPendingApproval     RemediationStatus = "pendingApproval"
	RemediationDeclined            RemediationStatus = "declined"
	RemediationUnremediated        RemediationStatus = "unremediated"
	RemediationRunning             RemediationStatus = "running"
	RemediationPartiallyRemediated RemediationStatus = "partiallyRemediated"
)

// Role is the role of a piece of evidence in an alert (Graph evidenceRole).
type Role string

// Roles.
const (
	RoleUnknown           Role = "unknown"
	RoleContextual        Role = "contextual"
	RoleScanned           Role = "scanned"
	RoleSource            Role = "source"
	RoleDestination       Role = "destination"
	RoleCreated           Role = "created"
	RoleAdded             Role = "added"
	RoleCompromised       Role = "compromised"
	RoleEdited            Role = "edited"
	RoleAttacked          Role = "attacked"
	RoleAttacker          Role = "attacker"
	RoleCommandAndControl Role = "commandAndControl"
	RoleLoaded            Role = "loaded"
	RoleSuspicious        Role = "suspicious"
	RolePolicyViolator    Role = "policyViolator"
)

// EntityKind is the type of a piece of evidence. The names follow Graph's evidence types without the
// "microsoft.graph.security." prefix and the "Evidence" suffix.
type EntityKind string

// Entity kinds. KindGeneric holds evidence of a type this version does not model; it is kept, not dropped.
const (
	KindDevice           EntityKind = "device"
	KindUser             EntityKind = "user"
	KindMailbox          EntityKind = "mailbox"
	KindAnalyzedMessage  EntityKind = "analyzedMessage"
	KindFile             EntityKind = "file"
	KindProcess          EntityKind = "process"
	KindIP               EntityKind = "ip"
	KindURL              EntityKind = "url"
	KindOAuthApplication EntityKind = "oauthApplication"
	KindCloudApplication EntityKind = "cloudApplication"
	KindRegistryKey      EntityKind = "registryKey"
	KindRegistryValue    EntityKind = "registryValue"
	KindSecurityGroup    EntityKind = "securityGroup"
	KindMailCluster      EntityKind = "mailCluster"
	KindGeneric          EntityKind = "generic"
)

// Source says which format an incident was parsed from.
type Source string

// Sources.
const (
	SourceGraph  Source = "graph"
	SourceNative Source = "native"
)

// Incident is one security incident with its alerts. Its JSON form is the native format.
type Incident struct {
	TenantID           string         `json:"tenantId"`
	ID                 string         `json:"id"`
	Title              string         `json:"title"`
	Description        string         `json:"description,omitempty"`
	Severity           Severity       `json:"severity"`
	Status             Status         `json:"status"`
	Classification     Classification `json:"classification,omitempty"`
	Determination      Determination  `json:"determination,omitempty"`
	AssignedTo         string         `json:"assignedTo,omitempty"`
	CustomTags         []string       `json:"customTags,omitempty"`
	SystemTags         []string       `json:"systemTags,omitempty"`
	WebURL             string         `json:"webUrl,omitempty"`
	RedirectIncidentID string         `json:"redirectIncidentId,omitempty"` // the incident this one was merged into (Status "redirected")
	CreatedAt          time.Time      `json:"createdAt"`
	LastUpdatedAt      time.Time      `json:"lastUpdatedAt"`
	Alerts             []Alert        `json:"alerts"`
	// Source is set by the parser; it is not part of the native input.
	Source Source `json:"-"`
}

// Alert is one alert of an incident.
type Alert struct {
	ID                 string         `json:"id"`
	Title              string         `json:"title"`
	Description        string         `json:"description,omitempty"`
	Severity           Severity       `json:"severity"`
	Status             Status         `json:"status,omitempty"`
	Classification     Classification `json:"classification,omitempty"`
	Determination      Determination  `json:"determination,omitempty"`
	Category           string         `json:"category,omitempty"`
	DetectionSource    string         `json:"detectionSource,omitempty"`
	DetectorID         string         `json:"detectorId,omitempty"`
	ServiceSource      string         `json:"serviceSource,omitempty"`
	MitreTechniques    []string       `json:"mitreTechniques,omitempty"`
	ThreatFamily       string         `json:"threatFamily,omitempty"`
	RecommendedActions string         `json:"recommendedActions,omitempty"`
	WebURL             string         `json:"webUrl,omitempty"`
	CreatedAt          time.Time      `json:"createdAt"`
	FirstActivityAt    time.Time      `json:"firstActivityAt,omitempty"`
	LastActivityAt     time.Time      `json:"lastActivityAt,omitempty"`
	Entities           []Entity       `json:"entities"`
}

// Entity is one piece of evidence of an alert. Exactly one of the typed detail pointers matching Kind is
// set; Generic holds evidence of types this version does not model.
type Entity struct {
	Kind              EntityKind        `json:"kind"`
	Verdict           Verdict           `json:"verdict,omitempty"`
	RemediationStatus RemediationStatus `json:"remediationStatus,omitempty"`
	Roles             []Role            `json:"roles,omitempty"`
	DetailedRoles     []string          `json:"detailedRoles,omitempty"`
	Tags              []string          `json:"tags,omitempty"`
	CreatedAt         time.Time         `json:"createdAt,omitempty"`

	Device           *Device           `json:"device,omitempty"`
	User             *UserAccount      `json:"user,omitempty"`
	Mailbox          *Mailbox          `json:"mailbox,omitempty"`
	AnalyzedMessage  *AnalyzedMessage  `json:"analyzedMessage,omitempty"`
	File             *File             `json:"file,omitempty"`
	Process          *Process          `json:"process,omitempty"`
	IP               *IP               `json:"ip,omitempty"`
	URL              *URL              `json:"url,omitempty"`
	OAuthApplication *OAuthApplication `json:"oauthApplication,omitempty"`
	CloudApplication *CloudApplication `json:"cloudApplication,omitempty"`
	RegistryKey      *RegistryKey      `json:"registryKey,omitempty"`
	RegistryValue    *RegistryValue    `json:"registryValue,omitempty"`
	SecurityGroup    *SecurityGroup    `json:"securityGroup,omitempty"`
	MailCluster      *MailCluster      `json:"mailCluster,omitempty"`
	Generic          *Generic          `json:"generic,omitempty"`
}

// Device is a machine (Graph deviceEvidence).
type Device struct {
	MdeDeviceID     string        `json:"mdeDeviceId,omitempty"`
	AzureADDeviceID string        `json:"azureAdDeviceId,omitempty"`
	DNSName         string        `json:"dnsName,omitempty"`
	OSPlatform      string        `json:"osPlatform,omitempty"`
	OSBuild         string        `json:"osBuild,omitempty"`
	RiskScore       string        `json:"riskScore,omitempty"`
	HealthStatus    string        `json:"healthStatus,omitempty"`
	LoggedOnUsers   []UserAccount `json:"loggedOnUsers,omitempty"`
	IPAddresses     []string      `json:"ipAddresses,omitempty"`
}

// UserAccount is an identity (Graph userAccount, the body of userEvidence).
type UserAccount struct {
	AccountName       string `json:"accountName,omitempty"`
	DomainName        string `json:"domainName,omitempty"`
	UserSID           string `json:"userSid,omitempty"`
	AzureADUserID     string `json:"azureAdUserId,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	DisplayName       string `json:"displayName,omitempty"`
}

// Mailbox is a mailbox (Graph mailboxEvidence).
type Mailbox struct {
	PrimaryAddress string       `json:"primaryAddress,omitempty"`
	DisplayName    string       `json:"displayName,omitempty"`
	UserAccount    *UserAccount `json:"userAccount,omitempty"`
}

// AnalyzedMessage is an email message (Graph analyzedMessageEvidence). Every field is attacker-controlled.
type AnalyzedMessage struct {
	NetworkMessageID       string    `json:"networkMessageId,omitempty"`
	InternetMessageID      string    `json:"internetMessageId,omitempty"`
	Subject                string    `json:"subject,omitempty"`
	SenderIP               string    `json:"senderIp,omitempty"`
	P1Sender               string    `json:"p1Sender,omitempty"`
	P2Sender               string    `json:"p2Sender,omitempty"`
	RecipientEmailAddress  string    `json:"recipientEmailAddress,omitempty"`
	URLs                   []string  `json:"urls,omitempty"`
	AttachmentsCount       int64     `json:"attachmentsCount,omitempty"`
	AttachmentSHA256s      []string  `json:"attachmentSha256s,omitempty"`
	DeliveryAction         string    `json:"deliveryAction,omitempty"`
	DeliveryLocation       string    `json:"deliveryLocation,omitempty"`
	AntiSpamDirection      string    `json:"antiSpamDirection,omitempty"`
	ReceivedAt             time.Time `json:"receivedAt,omitempty"`
	ThreatDetectionMethods []string  `json:"threatDetectionMethods,omitempty"`
	Threats                []string  `json:"threats,omitempty"`
}

// File is a file (Graph fileEvidence with its fileDetails).
type File struct {
	FileName        string `json:"fileName,omitempty"`
	FilePath        string `json:"filePath,omitempty"`
	SHA1            string `json:"sha1,omitempty"`
	SHA256          string `json:"sha256,omitempty"`
	FileSize        int64  `json:"fileSize,omitempty"`
	Publisher       string `json:"publisher,omitempty"`
	Signer          string `json:"signer,omitempty"`
	MdeDeviceID     string `json:"mdeDeviceId,omitempty"`
	DetectionStatus string `json:"detectionStatus,omitempty"`
}

// Process is a process (Graph processEvidence).
type Process struct {
	ProcessID              int64        `json:"processId,omitempty"`
	CommandLine            string       `json:"commandLine,omitempty"`
	ImageFile              *File        `json:"imageFile,omitempty"`
	ParentProcessID        int64        `json:"parentProcessId,omitempty"`
	ParentProcessImageFile *File        `json:"parentProcessImageFile,omitempty"`
	CreatedAt              time.Time    `json:"processCreatedAt,omitempty"`
	UserAccount            *UserAccount `json:"userAccount,omitempty"`
	MdeDeviceID            string       `json:"mdeDeviceId,omitempty"`
	DetectionStatus        string       `json:"detectionStatus,omitempty"`
}

// IP is an IP address (Graph ipEvidence).
type IP struct {
	Address     string `json:"address"`
	CountryCode string `json:"countryCode,omitempty"`
}

// URL is a URL (Graph urlEvidence).
type URL struct {
	URL string `json:"url"`
}

// OAuthApplication is an OAuth application (Graph oauthApplicationEvidence).
type OAuthApplication struct {
	AppID       string `json:"appId,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	ObjectID    string `json:"objectId,omitempty"`
	Publisher   string `json:"publisher,omitempty"`
}

// CloudApplication is a cloud application (Graph cloudApplicationEvidence).
type CloudApplication struct {
	AppID        int64  `json:"appId,omitempty"`
	DisplayName  string `json:"displayName,omitempty"`
	InstanceID   int64  `json:"instanceId,omitempty"`
	InstanceName string `json:"instanceName,omitempty"`
}

// RegistryKey is a registry key (Graph registryKeyEvidence).
type RegistryKey struct {
	Key  string `json:"key,omitempty"`
	Hive string `json:"hive,omitempty"`
}

// RegistryValue is a registry value (Graph registryValueEvidence).
type RegistryValue struct {
	Key         string `json:"key,omitempty"`
	Hive        string `json:"hive,omitempty"`
	ValueName   string `json:"valueName,omitempty"`
	Value       string `json:"value,omitempty"`
	ValueType   string `json:"valueType,omitempty"`
	MdeDeviceID string `json:"mdeDeviceId,omitempty"`
}

// SecurityGroup is a security group (Graph securityGroupEvidence).
type SecurityGroup struct {
	DisplayName     string `json:"displayName,omitempty"`
	SecurityGroupID string `json:"securityGroupId,omitempty"`
}

// MailCluster is a cluster of similar messages (Graph mailClusterEvidence).
type MailCluster struct {
	Query             string   `json:"query,omitempty"`
	ClusterBy         string   `json:"clusterBy,omitempty"`
	ClusterByValue    string   `json:"clusterByValue,omitempty"`
	NetworkMessageIDs []string `json:"networkMessageIds,omitempty"`
	EmailCount        int64    `json:"emailCount,omitempty"`
}

// Generic is evidence of a type this version does not model. Type is the source's type name (for Graph the
// @odata.type); Properties holds the object's other fields as they came.
type Generic struct {
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties,omitempty"`
}
