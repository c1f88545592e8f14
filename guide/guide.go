// Package guide reads Microsoft's GUIDE dataset (the public guided-response dataset released with
// "AI-Driven Guided Response for Security Operation Centers with Microsoft Copilot for Security",
// arXiv 2407.09017): one CSV row per piece of evidence of one alert of one incident. It streams rows,
// reports malformed ones with their line numbers, and aggregates them into incidents keyed by
// (OrgId, IncidentId) — the unit the triage model, the similar-incident index and the action ranking
// learn from. Facts about the dataset: ../shared/kb/guide/GUIDE.md in the project's knowledge base.
package guide

import "time"

// Grade is an incident's grade as GUIDE writes it.
type Grade string

// Grades. GUIDE's BenignPositive is Defender's "informational, expected activity".
const (
	GradeTruePositive   Grade = "TruePositive"
	GradeBenignPositive Grade = "BenignPositive"
	GradeFalsePositive  Grade = "FalsePositive"
)

// Grades lists the grades in a fixed order: class indexes of the models.
var Grades = []Grade{GradeTruePositive, GradeBenignPositive, GradeFalsePositive}

// Valid reports whether g is one of the three grades.
func (g Grade) Valid() bool {
	return g == GradeTruePositive || g == GradeBenignPositive || g == GradeFalsePositive
}

// Key identifies an incident: IncidentId alone repeats across organisations.
type Key struct {
	OrgID      int64
	IncidentID int64
}

// Row is one row of a GUIDE file. Anonymised identifiers are integers; empty cells are zero values.
type Row struct {
	// Line is the row's line number in its file (the header is line 1).
	Line int

	ID              int64
	OrgID           int64
	IncidentID      int64
	AlertID         int64
	Timestamp       time.Time
	DetectorID      int64
	AlertTitle      int64
	Category        string
	MitreTechniques []string // split on ';', empty when none
	Grade           Grade    // may be empty in a few rows
	ActionGrouped   string
	ActionGranular  string
	EntityType      string
	EvidenceRole    string

	DeviceID, Sha256, IPAddress, URL                                      int64
	AccountSid, AccountUpn, AccountObjectID, AccountName, DeviceName      int64
	NetworkMessageID, EmailClusterID, RegistryKey, RegistryValueName      int64
	RegistryValueData, ApplicationID, ApplicationName, OAuthApplicationID int64
	ThreatFamily                                                          string
	FileName, FolderPath, ResourceIDName, ResourceType                    int64
	Roles                                                                 string
	OSFamily, OSVersion                                                   int64
	AntispamDirection, SuspicionLevel, LastVerdict                        string
	CountryCode, State, City                                              int64
	// Usage is the test file's Public/Private column; empty in the train file.
	Usage string
}

// Columns are the train file's columns in file order; the test file adds Usage.
var Columns = []string{
	"Id", "OrgId", "IncidentId", "AlertId", "Timestamp", "DetectorId", "AlertTitle", "Category", "MitreTechniques",
	"IncidentGrade", "ActionGrouped", "ActionGranular", "EntityType", "EvidenceRole", "DeviceId", "Sha256", "IpAddress",
	"Url", "AccountSid", "AccountUpn", "AccountObjectId", "AccountName", "DeviceName", "NetworkMessageId",
	"EmailClusterId", "RegistryKey", "RegistryValueName", "RegistryValueData", "ApplicationId", "ApplicationName",
	"OAuthApplicationId", "ThreatFamily", "FileName", "FolderPath", "ResourceIdName", "ResourceType", "Roles",
	"OSFamily", "OSVersion", "AntispamDirection", "SuspicionLevel", "LastVerdict", "CountryCode", "State", "City",
}

// Count is a value and how many rows of the incident carry it.
type Count[T comparable] struct {
	Value T
	N     int32
}

// Incident is everything the rows of one incident say, aggregated: what the models see. It never holds
// the row IDs, and the Grade is the label only (a model must not take it as a feature).
type Incident struct {
	Key   Key
	Grade Grade
	Rows  int32
	// Alerts counts distinct alerts; First and Last bound the rows' timestamps.
	Alerts      int32
	First, Last time.Time
	// Counts of the values of the rows, each list sorted by Value.
	Detectors      []Count[int64]
	AlertTitles    []Count[int64]
	Categories     []Count[string]
	Techniques     []Count[string]
	EntityTypes    []Count[string]
	EvidenceRoles  []Count[string]
	SuspicionLevel []Count[string]
	LastVerdicts   []Count[string]
	ThreatFamilies []Count[string]
	Roles          []Count[string]
	OSFamilies     []Count[int64]
	Countries      []Count[int64]
	// Entities are the distinct identifiers the evidence names (devices, files, addresses, accounts,
	// applications, ...), each packed with its column by EntityKey, sorted; at most MaxEntities, a
	// sample of them for an incident that names more. GUIDE
	// writes a "not applicable" value where a column does not apply: those are here too, and a model
	// tells them by how many incidents share them.
	Entities EntityKeys `json:",omitempty"`
	// Actions are the remediation-action labels (ActionGranular, else ActionGrouped), distinct, sorted:
	// labels for the action ranking, never features.
	Actions []string
}
