package learn

import (
	"hash/fnv"
	"slices"
	"testing"

	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/incidentgen"
)

func TestFromIncidentAggregatesLikeGUIDE(t *testing.T) {
	gen, err := incidentgen.New(incidentgen.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		inc, mix := gen.Next()
		g := FromIncident(&inc)
		entities := 0
		for _, a := range inc.Alerts {
			entities += max(1, len(a.Entities))
		}
		if int(g.Rows) != entities || int(g.Alerts) != len(inc.Alerts) {
			t.Fatalf("%s: %d rows %d alerts, want %d and %d", mix, g.Rows, g.Alerts, entities, len(inc.Alerts))
		}
		if g.Key.OrgID != HashID(inc.TenantID) || g.Key.OrgID < 0 {
			t.Errorf("org %d", g.Key.OrgID)
		}
		sum := func(cs []guide.Count[string]) int32 {
			var n int32
			for _, c := range cs {
				n += c.N
			}
			return n
		}
		if sum(g.EntityTypes) != g.Rows || sum(g.EvidenceRoles) != g.Rows {
			t.Errorf("%s: entity types %v, roles %v over %d rows", mix, g.EntityTypes, g.EvidenceRoles, g.Rows)
		}
		for _, c := range g.EntityTypes {
			switch c.Value {
			case "Machine", "User", "Mailbox", "MailMessage", "File", "Process", "Ip", "Url", "CloudApplication", "OAuthApplication", "MailCluster":
			default:
				t.Errorf("%s: entity type %q is not GUIDE's spelling", mix, c.Value)
			}
		}
		if len(g.Detectors) == 0 || len(g.AlertTitles) == 0 || len(g.Categories) == 0 {
			t.Errorf("%s: detectors %v titles %v categories %v", mix, g.Detectors, g.AlertTitles, g.Categories)
		}
		if g.Grade != "" && g.Grade != GradeOf(inc.Classification) {
			t.Errorf("grade %q from %q", g.Grade, inc.Classification)
		}
	}
}

func TestLiveIncidentIsScored(t *testing.T) {
	m, _, _ := trainedModel(t)
	gen, err := incidentgen.New(incidentgen.Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	inc, _ := gen.Next()
	g := FromIncident(&inc)
	p, why := m.Explain(&g, 3)
	s := p.Probabilities[0] + p.Probabilities[1] + p.Probabilities[2]
	if s < 0.999 || s > 1.001 || !p.Grade.Valid() || len(why) == 0 {
		t.Errorf("prediction %+v, why %v", p, why)
	}
	if len(m.Embedder.Embed(&g, nil)) != EmbedDim {
		t.Error("embedding")
	}
}

func TestGradeClassificationRoundTrip(t *testing.T) {
	for _, g := range guide.Grades {
		if GradeOf(ClassificationOf(g)) != g {
			t.Errorf("%s", g)
		}
	}
	if GradeOf(incident.ClassificationUnknown) != "" || ClassificationOf("") != incident.ClassificationUnknown {
		t.Error("unknown")
	}
	if HashID("a") == HashID("b") || HashID("a") != HashID("a") || HashID("x") < 0 {
		t.Error("HashID")
	}
}

func TestHashStringIsFNV1a(t *testing.T) {
	for _, s := range []string{"", "a", "tenant-1", "T1566.002", "Ωmega"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got := hashString(s); got != h.Sum64() {
			t.Errorf("%q: %x, FNV-1a %x", s, got, h.Sum64())
		}
	}
}

// A live incident's identifiers land in GUIDE's entity columns, case-insensitively: an incident naming
// the same device or account as an earlier one meets it in the entity history.
func TestLiveEntities(t *testing.T) {
	alert := func(dev, upn, ip string) incident.Alert {
		return incident.Alert{ID: "a", Title: "t", Entities: []incident.Entity{
			{Kind: incident.KindDevice, Device: &incident.Device{MdeDeviceID: dev, DNSName: "ws1.contoso.com"}},
			{Kind: incident.KindUser, User: &incident.UserAccount{UserPrincipalName: upn, AccountName: "alex", DomainName: "CONTOSO"}},
			{Kind: incident.KindIP, IP: &incident.IP{Address: ip}},
			{Kind: incident.KindProcess, Process: &incident.Process{ImageFile: &incident.File{SHA256: "AB12", FileName: "x.exe"}}},
		}}
	}
	a := FromLive("t1", []incident.Alert{alert("DEV1", "Alex@Contoso.com", "10.0.0.1")})
	b := FromLive("t1", []incident.Alert{alert("dev1", "alex@contoso.com", "10.0.0.2")})
	cols := map[guide.EntityColumn]bool{}
	for _, k := range a.Entities {
		cols[guide.Column(k)] = true
	}
	for _, c := range []guide.EntityColumn{guide.EntityDeviceID, guide.EntityDeviceName, guide.EntityAccountUpn,
		guide.EntityAccountName, guide.EntityIPAddress, guide.EntitySha256, guide.EntityFileName} {
		if !cols[c] {
			t.Errorf("column %d missing from %v", c, a.Entities)
		}
	}
	shared := 0
	for _, k := range a.Entities {
		if slices.Contains(b.Entities, k) {
			shared++
		}
	}
	// All but the IP address.
	if shared != len(a.Entities)-1 || len(a.Entities) != 7 {
		t.Errorf("%d entities, %d shared with the other incident", len(a.Entities), shared)
	}
}
