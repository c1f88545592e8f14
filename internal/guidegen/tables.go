package guidegen

import "strconv"

// The vocabulary of generated files: categories with their grade leanings, MITRE techniques and entity
// mixes, entity types with the columns they fill, and the "not applicable" value of each anonymised
// column.

// grade indexes, in the order of guide.Grades.
const (
	tp = iota
	bp
	fp
)

var gradeNames = [3]string{"TruePositive", "BenignPositive", "FalsePositive"}

// category is a MITRE-style tactic (GUIDE's Category column) with what its detectors tend to be.
type category struct {
	name string
	// weight is the category's share of detectors.
	weight float64
	// lean is the mean grade mix (TP, BP, FP) of its detectors before calibration.
	lean [3]float64
	// techniques its detectors cite.
	techniques []string
	// entities are the entity types of its evidence, with weights.
	entities []weighted
}

type weighted struct {
	entity int
	w      float64
}

// Entity types. Columns lists the anonymised columns each one fills; every other column holds its
// "not applicable" value.
const (
	entIP = iota
	entUser
	entMailMessage
	entMachine
	entFile
	entURL
	entMailbox
	entCloudLogonRequest
	entProcess
	entMailCluster
	entCloudApplication
	entOAuthApplication
	entRegistryValue
	entRegistryKey
	entAzureResource
	entMalware
	entSecurityGroup
	entGenericEntity
	entActiveDirectoryDomain
	entIoTDevice
	entNic
	entBlobContainer
	entBlob
	entKubernetesCluster
	entAmazonResource
	entGoogleCloudResource
	entMailboxConfiguration
	numEntities
)

var entityNames = [numEntities]string{
	"Ip", "User", "MailMessage", "Machine", "File", "Url", "Mailbox", "CloudLogonRequest", "Process",
	"MailCluster", "CloudApplication", "OAuthApplication", "RegistryValue", "RegistryKey", "AzureResource",
	"Malware", "SecurityGroup", "GenericEntity", "ActiveDirectoryDomain", "IoTDevice", "Nic", "BlobContainer",
	"Blob", "KubernetesCluster", "AmazonResource", "GoogleCloudResource", "MailboxConfiguration",
}

// impacted is the share of an entity type's evidence with EvidenceRole Impacted (else Related).
var impacted = [numEntities]float64{
	entIP: 0.2, entUser: 0.7, entMailMessage: 0.3, entMachine: 0.7, entFile: 0.3, entURL: 0.15, entMailbox: 0.8,
	entCloudLogonRequest: 0.2, entProcess: 0.25, entMailCluster: 0.1, entCloudApplication: 0.4,
	entOAuthApplication: 0.3, entRegistryValue: 0.2, entRegistryKey: 0.2, entAzureResource: 0.6,
}

// verdictProne are entity types that carry SuspicionLevel and LastVerdict more often than others.
var verdictProne = [numEntities]bool{
	entIP: true, entMailMessage: true, entMachine: true, entFile: true, entURL: true, entProcess: true,
}

// rareEntities are sprinkled into any incident now and then.
var rareEntities = []int{
	entSecurityGroup, entGenericEntity, entActiveDirectoryDomain, entIoTDevice, entNic, entBlobContainer,
	entBlob, entKubernetesCluster, entAmazonResource, entGoogleCloudResource, entMailboxConfiguration,
	entRegistryKey, entAzureResource, entMalware,
}

// Anonymised entity columns: index into the Row's entity columns, from DeviceId to City.
const (
	cDeviceID = iota
	cSha256
	cIPAddress
	cURL
	cAccountSid
	cAccountUpn
	cAccountObjectID
	cAccountName
	cDeviceName
	cNetworkMessageID
	cEmailClusterID
	cRegistryKey
	cRegistryValueName
	cRegistryValueData
	cApplicationID
	cApplicationName
	cOAuthApplicationID
	cThreatFamily // a string column
	cFileName
	cFolderPath
	cResourceIDName
	cResourceType
	cRoles // a string column
	cOSFamily
	cOSVersion
	cAntispamDirection // string
	cSuspicionLevel    // string
	cLastVerdict       // string
	cCountryCode
	cState
	cCity
	numEntityColumns
)

// notApplicable is each integer column's dominant value, which stands for "does not apply to this
// evidence". DeviceId, Sha256, IpAddress, Url, CountryCode, State and City are the values the knowledge
// base records (shared/kb/guide/GUIDE.md); the others are the dominant values public analyses of
// GUIDE_Train.csv report. -1 marks a column left empty instead (EmailClusterId and ResourceType are
// mostly empty cells in GUIDE) or a string column.
var notApplicable = [numEntityColumns]int64{
	cDeviceID: 98799, cSha256: 138268, cIPAddress: 360606, cURL: 160396,
	cAccountSid: 441377, cAccountUpn: 673934, cAccountObjectID: 425863, cAccountName: 453297,
	cDeviceName: 153085, cNetworkMessageID: 529644, cEmailClusterID: -1,
	cRegistryKey: 1631, cRegistryValueName: 635, cRegistryValueData: 860,
	cApplicationID: 2251, cApplicationName: 3421, cOAuthApplicationID: 881, cThreatFamily: -1,
	cFileName: 289573, cFolderPath: 117668, cResourceIDName: 3586, cResourceType: -1, cRoles: -1,
	cOSFamily: 5, cOSVersion: 66, cAntispamDirection: -1, cSuspicionLevel: -1, cLastVerdict: -1,
	cCountryCode: 242, cState: 1445, cCity: 10630,
}

// notApplicableText is notApplicable formatted, as rows mostly write it.
var notApplicableText = func() (t [numEntityColumns]string) {
	for i, v := range notApplicable {
		if v >= 0 {
			t[i] = strconv.FormatInt(v, 10)
		}
	}
	return t
}()

// valueRange bounds the anonymised values drawn for a column (the not-applicable value excluded).
var valueRange = [numEntityColumns]int64{
	cDeviceID: 98800, cSha256: 138300, cIPAddress: 360700, cURL: 160400,
	cAccountSid: 441400, cAccountUpn: 674000, cAccountObjectID: 425900, cAccountName: 453300,
	cDeviceName: 153100, cNetworkMessageID: 529700, cEmailClusterID: 2000000,
	cRegistryKey: 1632, cRegistryValueName: 636, cRegistryValueData: 861,
	cApplicationID: 2252, cApplicationName: 3422, cOAuthApplicationID: 882,
	cFileName: 289600, cFolderPath: 117700, cResourceIDName: 3590, cResourceType: 40,
	cOSFamily: 5, cOSVersion: 66, cCountryCode: 242, cState: 1445, cCity: 10630,
}

// entityColumns are the columns an entity type fills with the entity's own values.
var entityColumns = [numEntities][]int{
	entIP:                   {cIPAddress, cCountryCode, cState, cCity},
	entUser:                 {cAccountSid, cAccountUpn, cAccountObjectID, cAccountName},
	entMailMessage:          {cNetworkMessageID},
	entMachine:              {cDeviceID, cDeviceName, cOSFamily, cOSVersion},
	entFile:                 {cSha256, cFileName, cFolderPath},
	entURL:                  {cURL},
	entMailbox:              {cAccountUpn, cAccountObjectID},
	entCloudLogonRequest:    {cAccountObjectID, cApplicationID},
	entProcess:              {cSha256, cFileName, cFolderPath, cDeviceID},
	entMailCluster:          {cEmailClusterID},
	entCloudApplication:     {cApplicationID, cApplicationName},
	entOAuthApplication:     {cOAuthApplicationID, cApplicationID, cApplicationName},
	entRegistryValue:        {cRegistryKey, cRegistryValueName, cRegistryValueData},
	entRegistryKey:          {cRegistryKey},
	entAzureResource:        {cResourceIDName, cResourceType},
	entMalware:              {cSha256},
	entMailboxConfiguration: {cAccountUpn},
}

var (
	threatFamilies = []string{"Wacatac", "Mimikatz", "Kepavll", "CobaltStrike", "AgentTesla", "Qakbot", "Emotet",
		"IcedID", "Meterpreter", "Lazagne", "Sabsik", "Phish", "Casdet", "Vigorf", "Bearfoos", "Lumma", "Remcos",
		"AsyncRat", "Ursnif", "Sliver"}
	roles       = []string{"Contextual", "Suspicious", "Destination", "Attacker", "Compromised", "Source"}
	rolesWeight = []float64{0.35, 0.2, 0.15, 0.1, 0.1, 0.1}
)

// Remediation actions (labels of the action ranking): ActionGrouped and ActionGranular.
type action struct{ grouped, granular string }

var (
	isolate     = action{"IsolateDevice", "isolateresponse"}
	quarantine  = action{"IsolateDevice", "quarantinefile"}
	containUser = []action{
		{"ContainAccount", "disableuser"},
		{"ContainAccount", "reset user password."},
		{"ContainAccount", "account disabled"},
		{"ContainAccount", "forcepasswordresetremediation"},
		{"ContainAccount", "update stsrefreshtokenvalidfrom timestamp."},
		{"ContainAccount", "msecidentitiesconfirmusercompromised"},
	}
	containUserWeight = []float64{0.3, 0.2, 0.15, 0.15, 0.1, 0.1}
)

func e(entity int, w float64) weighted { return weighted{entity, w} }

// categories: weights are shares of detectors; leans are (TP, BP, FP) before the global calibration.
var categories = []category{
	{"InitialAccess", 0.24, [3]float64{0.35, 0.42, 0.23},
		[]string{"T1566", "T1566.001", "T1566.002", "T1078", "T1078.004", "T1190", "T1133", "T1189", "T1195"},
		[]weighted{e(entMailMessage, 25), e(entMailbox, 15), e(entUser, 15), e(entURL, 15), e(entIP, 10),
			e(entMailCluster, 8), e(entFile, 7), e(entCloudLogonRequest, 3), e(entMachine, 2)}},
	{"Exfiltration", 0.11, [3]float64{0.22, 0.58, 0.20},
		[]string{"T1041", "T1048", "T1567", "T1567.002", "T1020", "T1537"},
		[]weighted{e(entUser, 25), e(entCloudApplication, 20), e(entFile, 20), e(entIP, 15), e(entMailbox, 10), e(entURL, 10)}},
	{"SuspiciousActivity", 0.11, [3]float64{0.18, 0.57, 0.25},
		[]string{"T1078", "T1098", "T1114.003", "T1564.008", "T1137"},
		[]weighted{e(entUser, 25), e(entIP, 20), e(entCloudApplication, 15), e(entMailbox, 10), e(entOAuthApplication, 10),
			e(entCloudLogonRequest, 10), e(entMachine, 5), e(entProcess, 5)}},
	{"CommandAndControl", 0.08, [3]float64{0.45, 0.22, 0.33},
		[]string{"T1071", "T1071.001", "T1105", "T1090", "T1572", "T1219", "T1568"},
		[]weighted{e(entIP, 35), e(entURL, 20), e(entMachine, 20), e(entProcess, 15), e(entFile, 10)}},
	{"Impact", 0.07, [3]float64{0.40, 0.40, 0.20},
		[]string{"T1486", "T1490", "T1485", "T1489", "T1496", "T1531", "T1498"},
		[]weighted{e(entUser, 25), e(entMachine, 20), e(entCloudApplication, 15), e(entFile, 15), e(entIP, 10),
			e(entAzureResource, 10), e(entProcess, 5)}},
	{"CredentialAccess", 0.07, [3]float64{0.45, 0.30, 0.25},
		[]string{"T1110", "T1110.003", "T1003", "T1003.001", "T1555", "T1552", "T1539", "T1621", "T1528"},
		[]weighted{e(entUser, 35), e(entIP, 20), e(entCloudLogonRequest, 15), e(entMachine, 10), e(entProcess, 10),
			e(entCloudApplication, 5), e(entMailbox, 5)}},
	{"Execution", 0.06, [3]float64{0.40, 0.35, 0.25},
		[]string{"T1059", "T1059.001", "T1059.003", "T1059.005", "T1204", "T1204.002", "T1047", "T1053.005", "T1569.002"},
		[]weighted{e(entProcess, 30), e(entFile, 20), e(entMachine, 20), e(entUser, 15), e(entIP, 5), e(entURL, 5), e(entRegistryValue, 5)}},
	{"Malware", 0.05, [3]float64{0.62, 0.13, 0.25},
		[]string{"T1204.002", "T1105", "T1027", "T1059"},
		[]weighted{e(entFile, 35), e(entMachine, 25), e(entProcess, 20), e(entMalware, 10), e(entUser, 5), e(entURL, 5)}},
	{"Discovery", 0.04, [3]float64{0.25, 0.50, 0.25},
		[]string{"T1087", "T1087.002", "T1069", "T1082", "T1018", "T1016", "T1083", "T1046"},
		[]weighted{e(entUser, 30), e(entMachine, 25), e(entProcess, 20), e(entIP, 15), e(entCloudApplication, 10)}},
	{"Persistence", 0.04, [3]float64{0.35, 0.40, 0.25},
		[]string{"T1547.001", "T1053.005", "T1136", "T1098", "T1543.003", "T1505.003", "T1546"},
		[]weighted{e(entRegistryValue, 20), e(entProcess, 20), e(entFile, 15), e(entMachine, 15), e(entUser, 10),
			e(entOAuthApplication, 10), e(entCloudApplication, 5), e(entRegistryKey, 5)}},
	{"DefenseEvasion", 0.04, [3]float64{0.40, 0.35, 0.25},
		[]string{"T1562.001", "T1070.004", "T1027", "T1036", "T1218", "T1112", "T1140", "T1564"},
		[]weighted{e(entProcess, 25), e(entFile, 20), e(entMachine, 20), e(entRegistryValue, 15), e(entUser, 15), e(entIP, 5)}},
	{"LateralMovement", 0.025, [3]float64{0.50, 0.30, 0.20},
		[]string{"T1021", "T1021.001", "T1021.002", "T1570", "T1550.002", "T1534"},
		[]weighted{e(entMachine, 30), e(entUser, 25), e(entIP, 20), e(entProcess, 15), e(entFile, 10)}},
	{"Collection", 0.02, [3]float64{0.30, 0.50, 0.20},
		[]string{"T1114", "T1114.002", "T1114.003", "T1005", "T1119", "T1213", "T1560"},
		[]weighted{e(entMailbox, 25), e(entUser, 25), e(entMailMessage, 20), e(entCloudApplication, 15), e(entFile, 10), e(entIP, 5)}},
	{"PrivilegeEscalation", 0.02, [3]float64{0.45, 0.35, 0.20},
		[]string{"T1068", "T1548.002", "T1134", "T1055", "T1078"},
		[]weighted{e(entUser, 30), e(entProcess, 20), e(entMachine, 20), e(entFile, 10), e(entCloudApplication, 10), e(entIP, 10)}},
	{"Ransomware", 0.008, [3]float64{0.86, 0.04, 0.10},
		[]string{"T1486", "T1490", "T1489"},
		[]weighted{e(entFile, 35), e(entMachine, 25), e(entProcess, 20), e(entUser, 10), e(entMalware, 10)}},
	{"UnwantedSoftware", 0.01, [3]float64{0.30, 0.40, 0.30},
		[]string{"T1204", "T1176"},
		[]weighted{e(entFile, 40), e(entMachine, 25), e(entProcess, 25), e(entURL, 10)}},
	{"CredentialStealing", 0.005, [3]float64{0.55, 0.25, 0.20},
		[]string{"T1003.001", "T1555.003", "T1539", "T1056"},
		[]weighted{e(entUser, 30), e(entProcess, 25), e(entMachine, 20), e(entFile, 15), e(entIP, 10)}},
	{"Exploit", 0.005, [3]float64{0.55, 0.20, 0.25},
		[]string{"T1203", "T1190", "T1068", "T1211"},
		[]weighted{e(entMachine, 30), e(entProcess, 25), e(entFile, 20), e(entIP, 15), e(entURL, 10)}},
	{"WebExploit", 0.003, [3]float64{0.45, 0.25, 0.30},
		[]string{"T1190", "T1505.003", "T1059.007"},
		[]weighted{e(entIP, 35), e(entURL, 30), e(entMachine, 20), e(entProcess, 15)}},
	{"Weaponization", 0.002, [3]float64{0.50, 0.30, 0.20},
		[]string{"T1587", "T1588"},
		[]weighted{e(entFile, 40), e(entMachine, 20), e(entURL, 20), e(entIP, 20)}},
}

// malwareLike categories name threat families and favour device containment.
func malwareLike(category string) bool {
	switch category {
	case "Malware", "Ransomware", "Execution", "UnwantedSoftware", "CommandAndControl", "LateralMovement",
		"DefenseEvasion", "Persistence", "Exploit":
		return true
	}
	return false
}

// identityLike categories favour account containment.
func identityLike(category string) bool {
	switch category {
	case "CredentialAccess", "InitialAccess", "Exfiltration", "CredentialStealing", "SuspiciousActivity",
		"PrivilegeEscalation", "Collection":
		return true
	}
	return false
}
