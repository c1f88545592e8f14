package learn

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/incident"
)

// HashID maps one of our string identifiers (tenant, detector, alert title) into GUIDE's space of
// anonymised integers: FNV-1a 64 of the string, as a non-negative int64. Equal strings meet; they never
// meet GUIDE's own anonymised values (except by chance), so history from GUIDE data applies to a live
// incident through the values that are not identifiers (categories, techniques, entity types,
// verdicts), and the identifiers' history comes from our own graded incidents.
func HashID(s string) int64 {
	return int64(hashString(s) &^ (1 << 63))
}

// FromIncident is the GUIDE aggregate of one of our incidents, for the same features, embedding and
// action model as the GUIDE training incidents. Grade is set from the incident's classification when it
// has one (our own graded incidents can be training data); Actions stay empty.
func FromIncident(inc *incident.Incident) guide.Incident {
	g := FromLive(inc.TenantID, inc.Alerts)
	g.Key.IncidentID = HashID(inc.ID)
	g.Grade = GradeOf(inc.Classification)
	return g
}

// FromLive aggregates a tenant's alerts like GUIDE aggregates an incident's rows: each piece of evidence
// is one row (an alert without evidence is one row without an entity), carrying its alert's detector,
// title, category and techniques. Our values are mapped to GUIDE's spelling (entity kinds to GUIDE's
// EntityType, roles to Impacted or Related, verdicts to LastVerdict and SuspicionLevel); string
// identifiers are hashed with HashID.
func FromLive(tenantID string, alerts []incident.Alert) guide.Incident {
	a := newAggregate()
	out := guide.Incident{Key: guide.Key{OrgID: HashID(tenantID)}}
	var keys []uint64
	alertIDs := map[string]bool{}
	for i := range alerts {
		al := &alerts[i]
		alertIDs[al.ID] = true
		for _, t := range []time.Time{al.CreatedAt, al.FirstActivityAt, al.LastActivityAt} {
			if t.IsZero() {
				continue
			}
			if out.First.IsZero() || t.Before(out.First) {
				out.First = t
			}
			if t.After(out.Last) {
				out.Last = t
			}
		}
		detector := al.DetectorID
		if detector == "" {
			// Without a detector ID the title names the detection.
			detector = "title:" + al.Title
		}
		row := func(e *incident.Entity) {
			out.Rows++
			a.ints[0][HashID(detector)]++
			a.ints[1][HashID(al.Title)]++
			a.strs[0][al.Category]++
			for _, t := range al.MitreTechniques {
				a.strs[1][strings.TrimSpace(t)]++
			}
			a.strs[7][al.ThreatFamily]++
			if e == nil {
				return
			}
			a.strs[2][entityType(e)]++
			a.strs[3][evidenceRole(e.Roles)]++
			susp, verdict := verdictOf(e.Verdict)
			a.strs[4][susp]++
			a.strs[5][verdict]++
			for _, r := range e.DetailedRoles {
				a.strs[6][r]++
			}
			if e.Device != nil && e.Device.OSPlatform != "" {
				a.ints[2][HashID(strings.ToLower(e.Device.OSPlatform))]++
			}
			if e.IP != nil && e.IP.CountryCode != "" {
				a.ints[3][HashID(strings.ToUpper(e.IP.CountryCode))]++
			}
			for _, k := range entityKeys(e, keys[:0]) {
				a.entities[k] = true
			}
		}
		if len(al.Entities) == 0 {
			row(nil)
		}
		for j := range al.Entities {
			row(&al.Entities[j])
		}
	}
	out.Alerts = int32(len(alertIDs))
	out.Detectors = sortedCounts(a.ints[0])
	out.AlertTitles = sortedCounts(a.ints[1])
	out.OSFamilies = sortedCounts(a.ints[2])
	out.Countries = sortedCounts(a.ints[3])
	out.Categories = sortedCounts(a.strs[0])
	out.Techniques = sortedCounts(a.strs[1])
	out.EntityTypes = sortedCounts(a.strs[2])
	out.EvidenceRoles = sortedCounts(a.strs[3])
	out.SuspicionLevel = sortedCounts(a.strs[4])
	out.LastVerdicts = sortedCounts(a.strs[5])
	out.Roles = sortedCounts(a.strs[6])
	out.ThreatFamilies = sortedCounts(a.strs[7])
	out.Entities = sampleEntities(a.entities)
	return out
}

// entityKeys appends the identifiers of a piece of evidence, each in the GUIDE column that holds its
// kind (see guide.EntityColumn), hashed with HashID after lower-casing (identifiers are case-insensitive,
// as incident.Entity.Key has them).
func entityKeys(e *incident.Entity, dst []uint64) []uint64 {
	add := func(col guide.EntityColumn, v string) {
		if v != "" {
			dst = append(dst, guide.EntityKey(col, HashID(strings.ToLower(v))))
		}
	}
	user := func(u *incident.UserAccount) {
		if u == nil {
			return
		}
		add(guide.EntityAccountObjectID, u.AzureADUserID)
		add(guide.EntityAccountUpn, u.UserPrincipalName)
		add(guide.EntityAccountSid, u.UserSID)
		if u.AccountName != "" {
			add(guide.EntityAccountName, u.DomainName+`\`+u.AccountName)
		}
	}
	file := func(f *incident.File) {
		if f == nil {
			return
		}
		add(guide.EntitySha256, f.SHA256)
		add(guide.EntityFileName, f.FileName)
		add(guide.EntityFolderPath, f.FilePath)
	}
	if d := e.Device; d != nil {
		add(guide.EntityDeviceID, d.MdeDeviceID)
		add(guide.EntityDeviceName, d.DNSName)
	}
	user(e.User)
	if m := e.Mailbox; m != nil {
		add(guide.EntityAccountUpn, m.PrimaryAddress)
		user(m.UserAccount)
	}
	file(e.File)
	if p := e.Process; p != nil {
		file(p.ImageFile)
		add(guide.EntityDeviceID, p.MdeDeviceID)
	}
	if e.IP != nil {
		add(guide.EntityIPAddress, e.IP.Address)
	}
	if e.URL != nil {
		add(guide.EntityURL, e.URL.URL)
	}
	if m := e.AnalyzedMessage; m != nil {
		add(guide.EntityIPAddress, m.SenderIP)
		for _, u := range m.URLs {
			add(guide.EntityURL, u)
		}
		for _, h := range m.AttachmentSHA256s {
			add(guide.EntitySha256, h)
		}
	}
	if o := e.OAuthApplication; o != nil {
		add(guide.EntityOAuthApplicationID, o.AppID)
	}
	if c := e.CloudApplication; c != nil && c.AppID != 0 {
		add(guide.EntityApplicationID, strconv.FormatInt(c.AppID, 10))
	}
	if r := e.RegistryKey; r != nil && r.Key != "" {
		add(guide.EntityRegistryKey, r.Hive+`\`+r.Key)
	}
	if r := e.RegistryValue; r != nil {
		if r.Key != "" {
			add(guide.EntityRegistryKey, r.Hive+`\`+r.Key)
		}
		add(guide.EntityRegistryValueData, r.Value)
	}
	if m := e.MailCluster; m != nil && m.ClusterByValue != "" {
		add(guide.EntityEmailClusterID, m.ClusterBy+":"+m.ClusterByValue)
	}
	return dst
}

// sampleEntities is the set as guide.Incident.Entities holds it: sorted, and of more than
// guide.MaxEntities the ones that hash lowest, as the GUIDE aggregator samples them.
func sampleEntities(set map[uint64]bool) []uint64 {
	if len(set) == 0 {
		return nil
	}
	keys := slices.Collect(maps.Keys(set))
	if len(keys) > guide.MaxEntities {
		slices.SortFunc(keys, func(a, b uint64) int { return cmp.Compare(guide.SampleRank(a), guide.SampleRank(b)) })
		keys = keys[:guide.MaxEntities]
	}
	slices.Sort(keys)
	return keys
}

type aggregate struct {
	ints     [4]map[int64]int32
	strs     [8]map[string]int32
	entities map[uint64]bool
}

func newAggregate() *aggregate {
	a := &aggregate{entities: map[uint64]bool{}}
	for i := range a.ints {
		a.ints[i] = map[int64]int32{}
	}
	for i := range a.strs {
		a.strs[i] = map[string]int32{}
	}
	return a
}

// sortedCounts lists the non-empty values and their counts, sorted by value.
func sortedCounts[T cmp.Ordered](m map[T]int32) []guide.Count[T] {
	var zero T
	var out []guide.Count[T]
	for v, n := range m {
		if v != zero {
			out = append(out, guide.Count[T]{Value: v, N: n})
		}
	}
	slices.SortFunc(out, func(a, b guide.Count[T]) int { return cmp.Compare(a.Value, b.Value) })
	return out
}

// guideEntityTypes spell our entity kinds as GUIDE's EntityType does.
var guideEntityTypes = map[incident.EntityKind]string{
	incident.KindDevice:           "Machine",
	incident.KindUser:             "User",
	incident.KindMailbox:          "Mailbox",
	incident.KindAnalyzedMessage:  "MailMessage",
	incident.KindFile:             "File",
	incident.KindProcess:          "Process",
	incident.KindIP:               "Ip",
	incident.KindURL:              "Url",
	incident.KindOAuthApplication: "OAuthApplication",
	incident.KindCloudApplication: "CloudApplication",
	incident.KindRegistryKey:      "RegistryKey",
	incident.KindRegistryValue:    "RegistryValue",
	incident.KindSecurityGroup:    "SecurityGroup",
	incident.KindMailCluster:      "MailCluster",
}

func entityType(e *incident.Entity) string {
	if t, ok := guideEntityTypes[e.Kind]; ok {
		return t
	}
	if e.Generic != nil && e.Generic.Type != "" {
		// "#microsoft.graph.security.cloudLogonRequestEvidence" -> "CloudLogonRequest"
		t := e.Generic.Type[strings.LastIndex(e.Generic.Type, ".")+1:]
		t = strings.TrimSuffix(t, "Evidence")
		if t != "" {
			return strings.ToUpper(t[:1]) + t[1:]
		}
	}
	return "Generic"
}

// evidenceRole is GUIDE's EvidenceRole of our roles: Impacted when the evidence was acted on (attacked,
// compromised, a destination), Related otherwise.
func evidenceRole(roles []incident.Role) string {
	for _, r := range roles {
		switch r {
		case incident.RoleAttacked, incident.RoleCompromised, incident.RoleDestination, incident.RoleEdited, incident.RoleCreated, incident.RoleAdded:
			return "Impacted"
		}
	}
	return "Related"
}

// verdictOf is GUIDE's SuspicionLevel and LastVerdict of a verdict.
func verdictOf(v incident.Verdict) (suspicion, last string) {
	switch v {
	case incident.VerdictMalicious:
		return "Incriminated", "Malicious"
	case incident.VerdictSuspicious:
		return "Suspicious", "Suspicious"
	case incident.VerdictNoThreatsFound:
		return "", "NoThreatsFound"
	}
	return "", ""
}

// GradeOf is the GUIDE grade of an analyst's classification ("" when unknown).
func GradeOf(c incident.Classification) guide.Grade {
	switch c {
	case incident.ClassificationTruePositive:
		return guide.GradeTruePositive
	case incident.ClassificationInformationalExpectedActivity:
		return guide.GradeBenignPositive
	case incident.ClassificationFalsePositive:
		return guide.GradeFalsePositive
	}
	return ""
}

// ClassificationOf is the classification to suggest for a grade.
func ClassificationOf(g guide.Grade) incident.Classification {
	switch g {
	case guide.GradeTruePositive:
		return incident.ClassificationTruePositive
	case guide.GradeBenignPositive:
		return incident.ClassificationInformationalExpectedActivity
	case guide.GradeFalsePositive:
		return incident.ClassificationFalsePositive
	}
	return incident.ClassificationUnknown
}
