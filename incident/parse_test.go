package incident

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testTenant = "4d3a7c2e-5b1f-4e8a-9c6d-2f7b8a1e0c93"

// graphIncidentDoc returns a small valid Graph incident with two alerts, as a JSON-shaped map that tests
// change before encoding. Alert 0 has device, ip, file and user evidence; alert 1 has url evidence.
func graphIncidentDoc(id string) map[string]any {
	return map[string]any{
		"@odata.type":        "#microsoft.graph.security.incident",
		"id":                 id,
		"tenantId":           testTenant,
		"displayName":        "Test incident " + id,
		"severity":           "high",
		"status":             "active",
		"classification":     "unknown",
		"determination":      "unknown",
		"incidentWebUrl":     "https://security.microsoft.com/incidents/" + id,
		"createdDateTime":    "2024-05-01T10:00:00Z",
		"lastUpdateDateTime": "2024-05-01T11:00:00.1234567Z",
		"comments":           []any{},
		"alerts": []any{
			map[string]any{
				"id":              "da0001_" + id,
				"incidentId":      id,
				"tenantId":        testTenant,
				"title":           "Alert one",
				"severity":        "high",
				"status":          "new",
				"mitreTechniques": []any{"T1566.001"},
				"createdDateTime": "2024-05-01T10:00:00Z",
				"evidence": []any{
					map[string]any{
						"@odata.type": "#microsoft.graph.security.deviceEvidence",
						"verdict":     "malicious", "roles": []any{"compromised"},
						"mdeDeviceId": "8f2c4b6a1d3e5f7091a2b3c4d5e6f708192a3b4c", "deviceDnsName": "ws1.contoso.com",
						"osBuild": 22631, "ipInterfaces": []any{"10.0.0.4"},
					},
					map[string]any{
						"@odata.type": "#microsoft.graph.security.ipEvidence",
						"verdict":     "suspicious", "roles": []any{"attacker"},
						"ipAddress": "198.51.100.23", "countryLetterCode": "RU",
					},
					map[string]any{
						"@odata.type": "#microsoft.graph.security.fileEvidence",
						"verdict":     "malicious", "remediationStatus": "remediated",
						"fileDetails": map[string]any{
							"fileName": "invoice.docm",
							"sha256":   "46f9dc49c0f300432bcbaa341e57d5998679d7e7a4b1c250bd6ac3e77897853d",
							"fileSize": 48213,
						},
					},
					map[string]any{
						"@odata.type": "#microsoft.graph.security.userEvidence",
						"verdict":     "unknown", "roles": []any{"compromised"},
						"userAccount": map[string]any{"userPrincipalName": "MeganB@contoso.com", "azureAdUserId": "6b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b"},
					},
				},
			},
			map[string]any{
				"id":              "da0002_" + id,
				"tenantId":        testTenant,
				"title":           "Alert two",
				"severity":        "medium",
				"createdDateTime": "2024-05-01T10:05:00Z",
				"evidence": []any{
					map[string]any{
						"@odata.type": "#microsoft.graph.security.urlEvidence",
						"verdict":     "malicious", "url": "https://invoices-portal.example/view",
					},
				},
			},
		},
	}
}

// graphListDoc returns a Graph list of two incidents, 101 and 102.
func graphListDoc() map[string]any {
	return map[string]any{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/incidents(alerts())",
		"value":          []any{graphIncidentDoc("101"), graphIncidentDoc("102")},
	}
}

// nativeIncidentDoc returns a small valid native incident.
func nativeIncidentDoc() map[string]any {
	return map[string]any{
		"tenantId":  testTenant,
		"id":        "7",
		"title":     "Native incident",
		"severity":  "medium",
		"status":    "active",
		"createdAt": "2024-05-01T10:00:00Z",
		"alerts": []any{
			map[string]any{
				"id":        "a1",
				"title":     "Native alert",
				"severity":  "medium",
				"createdAt": "2024-05-01T10:00:00+02:00",
				"entities": []any{
					map[string]any{"kind": "ip", "verdict": "malicious", "ip": map[string]any{"address": "203.0.113.9"}},
					map[string]any{"kind": "mailbox", "mailbox": map[string]any{"primaryAddress": "a@contoso.com"}},
				},
			},
		},
	}
}

// Accessors for changing the test documents.
func alertOf(doc map[string]any, i int) map[string]any {
	return doc["alerts"].([]any)[i].(map[string]any)
}

func evidenceOf(doc map[string]any, alert, i int) map[string]any {
	return alertOf(doc, alert)["evidence"].([]any)[i].(map[string]any)
}

func entityOf(doc map[string]any, alert, i int) map[string]any {
	return alertOf(doc, alert)["entities"].([]any)[i].(map[string]any)
}

func incidentOf(list map[string]any, i int) map[string]any {
	return list["value"].([]any)[i].(map[string]any)
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// problemsOf returns the problems of a Parse or Validate error.
func problemsOf(t *testing.T, err error) ParseErrors {
	t.Helper()
	var list ParseErrors
	if !errors.As(err, &list) {
		t.Fatalf("error %v (%T) is not a ParseErrors", err, err)
	}
	var first *ParseError
	if !errors.As(err, &first) || first != list[0] {
		t.Fatalf("errors.As does not find the first *ParseError in %v", err)
	}
	return list
}

func TestParseGraphIncident(t *testing.T) {
	incidents, err := ParseFile("testdata/graph_incident_multi.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(incidents) != 1 {
		t.Fatalf("got %d incidents, want 1", len(incidents))
	}
	inc := incidents[0]
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("Source", inc.Source, SourceGraph)
	check("ID", inc.ID, "3187")
	check("TenantID", inc.TenantID, testTenant)
	check("Title", strings.HasPrefix(inc.Title, "Multi-stage incident"), true)
	check("Severity", inc.Severity, SeverityHigh)
	check("Status", inc.Status, StatusActive)
	check("Classification", inc.Classification, ClassificationUnknown)
	check("AssignedTo", inc.AssignedTo, "soc-tier2@contoso.com")
	check("CustomTags", inc.CustomTags, []string{"Phishing", "Finance"})
	check("SystemTags", inc.SystemTags, []string{"Multi-stage"})
	check("WebURL", inc.WebURL, "https://security.microsoft.com/incidents/3187?tid="+testTenant)
	check("CreatedAt", inc.CreatedAt, time.Date(2024, 5, 14, 8, 3, 12, 203333300, time.UTC))
	check("LastUpdatedAt", inc.LastUpdatedAt, time.Date(2024, 5, 14, 11, 27, 30, 600000000, time.UTC))
	if len(inc.Alerts) != 3 {
		t.Fatalf("got %d alerts, want 3", len(inc.Alerts))
	}

	mail := inc.Alerts[0]
	check("alert 0 Status", mail.Status, StatusResolved)
	check("alert 0 Classification", mail.Classification, ClassificationTruePositive)
	check("alert 0 Determination", mail.Determination, DeterminationPhishing)
	check("alert 0 ThreatFamily", mail.ThreatFamily, "Obfuse")
	check("alert 0 ServiceSource", mail.ServiceSource, "microsoftDefenderForOffice365")
	msg := mail.Entities[0]
	check("message Kind", msg.Kind, KindAnalyzedMessage)
	check("message RemediationStatus", msg.RemediationStatus, RemediationRemediated)
	check("message P1Sender", msg.AnalyzedMessage.P1Sender, "billing@invoices-portal.example")
	check("message SenderIP", msg.AnalyzedMessage.SenderIP, "203.0.113.45")
	check("message URLs", msg.AnalyzedMessage.URLs, []string{"https://invoices-portal.example/view?id=20931"})
	check("message ReceivedAt", msg.AnalyzedMessage.ReceivedAt, time.Date(2024, 5, 14, 8, 2, 51, 0, time.UTC))
	check("mailbox", mail.Entities[1].Mailbox.PrimaryAddress, "MeganB@contoso.com")
	check("attachment", *mail.Entities[5].File, File{
		FileName: "Invoice_20931.docm", SHA1: "cbf29d934bdc7a8a27edd1b151b2b027d96600a3",
		SHA256: "46f9dc49c0f300432bcbaa341e57d5998679d7e7a4b1c250bd6ac3e77897853d", FileSize: 48213, DetectionStatus: "detected",
	})

	endpoint := inc.Alerts[1]
	check("alert 1 DetectionSource", endpoint.DetectionSource, "antivirus")
	check("alert 1 MitreTechniques", endpoint.MitreTechniques, []string{"T1204.002", "T1059.001", "T1547.001"})
	device := endpoint.Entities[0]
	check("device Roles", device.Roles, []Role{RoleCompromised})
	check("device Tags", device.Tags, []string{"Finance"})
	check("device", *device.Device, Device{
		MdeDeviceID: "8f2c4b6a1d3e5f7091a2b3c4d5e6f708192a3b4c", AzureADDeviceID: "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b",
		DNSName: "ws-megan01.contoso.com", OSPlatform: "Windows11", OSBuild: "22631", RiskScore: "high", HealthStatus: "active",
		LoggedOnUsers: []UserAccount{{AccountName: "meganb", DomainName: "CONTOSO"}},
		IPAddresses:   []string{"10.20.30.41", "fe80::1c2d:3e4f:5a6b:7c8d"},
	})
	ps := endpoint.Entities[2].Process
	check("process ID", ps.ProcessID, int64(9104))
	check("process ParentProcessID", ps.ParentProcessID, int64(7212))
	check("process image", ps.ImageFile.FileName, "powershell.exe")
	check("process parent image", ps.ParentProcessImageFile.FileName, "WINWORD.EXE")
	check("process user", ps.UserAccount.UserPrincipalName, "MeganB@contoso.com")
	check("process CreatedAt", ps.CreatedAt, time.Date(2024, 5, 14, 8, 14, 2, 880000000, time.UTC))
	check("registry value", endpoint.Entities[8].RegistryValue.ValueName, "SvcHelper")

	identity := inc.Alerts[2]
	check("alert 2 Classification", identity.Classification, Classification(""))
	check("cloud app", *identity.Entities[2].CloudApplication, CloudApplication{AppID: 20893, DisplayName: "Microsoft Exchange Online", InstanceName: "Microsoft Exchange Online"})
	session := identity.Entities[3]
	check("session Kind", session.Kind, KindGeneric)
	check("session Verdict", session.Verdict, VerdictSuspicious)
	check("session Roles", session.Roles, []Role{RoleSuspicious})
	check("session Type", session.Generic.Type, "#microsoft.graph.security.cloudLogonSessionEvidence")
	check("session sessionId", session.Generic.Properties["sessionId"], "8c1e0f7a-2b3d-4e5f-a6b7-c8d9e0f1a2b3")
	if _, kept := session.Generic.Properties["verdict"]; kept {
		t.Error("generic properties keep verdict, which the entity already has")
	}
	if _, kept := session.Generic.Properties["@odata.type"]; kept {
		t.Error("generic properties keep @odata.type, which is the generic type")
	}
}

func TestParseGraphList(t *testing.T) {
	incidents, err := ParseFile("testdata/graph_list.json")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inc := range incidents {
		ids = append(ids, inc.ID)
		if inc.Source != SourceGraph {
			t.Errorf("incident %s: Source = %q, want graph", inc.ID, inc.Source)
		}
	}
	if !reflect.DeepEqual(ids, []string{"3191", "3192"}) {
		t.Fatalf("ids = %v, want [3191 3192]", ids)
	}
	// 3192 is classified unknownFutureValue, which the model calls unknown.
	if got := incidents[1].Classification; got != ClassificationUnknown {
		t.Errorf("Classification = %q, want unknown", got)
	}
	if got := incidents[1].Alerts[0].Entities[0].IP.Address; got != "2001:db8:4f::17" {
		t.Errorf("IP = %q", got)
	}

	// The same from a generated list, with a next page link, which is ignored.
	list := graphListDoc()
	list["@odata.nextLink"] = "https://graph.microsoft.com/v1.0/security/incidents?$skip=2"
	incidents, err = Parse("list", encode(t, list))
	if err != nil {
		t.Fatal(err)
	}
	if len(incidents) != 2 || incidents[0].ID != "101" || incidents[1].ID != "102" {
		t.Fatalf("got %d incidents", len(incidents))
	}
	// Alert 1 has no incidentId; alerts carry no tenant of their own in the model.
	if got := incidents[1].Alerts[1].Entities[0].URL.URL; got != "https://invoices-portal.example/view" {
		t.Errorf("URL = %q", got)
	}
}

func TestParseNative(t *testing.T) {
	incidents, err := ParseFile("testdata/native_phishing.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(incidents) != 1 || incidents[0].ID != "3201" || incidents[0].Source != SourceNative {
		t.Fatalf("got %+v", incidents)
	}
	inc := incidents[0]
	if len(inc.Alerts) != 2 || len(inc.Alerts[0].Entities) != 5 || len(inc.Alerts[1].Entities) != 3 {
		t.Fatalf("alerts/entities: %d alerts", len(inc.Alerts))
	}
	if got := inc.Alerts[0].Entities[0].AnalyzedMessage.Subject; got != `Megan shared "Q2 Budget.xlsx" with you` {
		t.Errorf("Subject = %q", got)
	}

	// One incident, a list of them, and an array of them parse alike; times are kept in UTC.
	one := nativeIncidentDoc()
	for name, doc := range map[string]any{
		"object": one,
		"list":   map[string]any{"value": []any{one}},
		"array":  []any{one},
	} {
		incidents, err := Parse(name, encode(t, doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(incidents) != 1 || incidents[0].Alerts[0].CreatedAt != time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC) {
			t.Errorf("%s: got %+v", name, incidents)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{`[]`, `{"value": []}`, `{"value": [], "@odata.context": "x"}`} {
		incidents, err := Parse("empty", []byte(doc))
		if err != nil || len(incidents) != 0 {
			t.Errorf("%s: got %v, %v; want no incidents and no error", doc, incidents, err)
		}
	}
}

// TestParseRoundTrip re-encodes parsed incidents in the native format and parses them back.
func TestParseRoundTrip(t *testing.T) {
	for _, file := range []string{"graph_incident_multi.json", "graph_list.json", "native_phishing.json"} {
		incidents, err := ParseFile("testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse("native", encode(t, incidents))
		if err != nil {
			t.Fatalf("%s: native form does not parse: %v", file, err)
		}
		for k := range incidents {
			incidents[k].Source = SourceNative
		}
		if !reflect.DeepEqual(again, incidents) {
			t.Errorf("%s: native round trip changed the incidents", file)
		}
	}
}

func TestParseUnknownEvidenceKeptAsGeneric(t *testing.T) {
	doc := graphIncidentDoc("5")
	alertOf(doc, 1)["evidence"] = []any{map[string]any{
		"@odata.type": "#microsoft.graph.security.kubernetesPodEvidence",
		"verdict":     "unknownFutureValue",
		"roles":       []any{"contextual", "unknownFutureValue"},
		"name":        "web-7f9c",
		"labels":      map[string]any{"app": "web"},
		"containers":  []any{map[string]any{"name": "nginx", "privileged": true}},
		"restarts":    12345678901234567,
	}}
	incidents, err := Parse("generic", encode(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	e := incidents[0].Alerts[1].Entities[0]
	want := Entity{
		Kind:    KindGeneric,
		Verdict: VerdictUnknown,
		Roles:   []Role{RoleContextual, RoleUnknown},
		Generic: &Generic{
			Type: "#microsoft.graph.security.kubernetesPodEvidence",
			Properties: map[string]any{
				"name":       "web-7f9c",
				"labels":     map[string]any{"app": "web"},
				"containers": []any{map[string]any{"name": "nginx", "privileged": true}},
				"restarts":   json.Number("12345678901234567"),
			},
		},
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got %#v\nwant %#v", e, want)
	}
	if e.Name() != "kubernetesPodEvidence" {
		t.Errorf("Name = %q", e.Name())
	}
}

func TestParseErrors(t *testing.T) {
	oversized := make([]byte, MaxDocumentSize+1)
	copy(oversized, "[")
	for i := 1; i < len(oversized); i++ {
		oversized[i] = ' '
	}

	tests := []struct {
		name    string
		doc     []byte
		path    string
		problem string
		fix     string // a part of the fix
	}{
		{
			name: "syntax error",
			doc:  []byte("{\n  \"tenantId\": \"t\",\n  \"id\": \"1\"\n  \"title\": \"x\"\n}"),
			path: "$.id", problem: `invalid JSON at line 4, column 3: invalid character '"' after object key:value pair`,
			fix: "correct the JSON syntax",
		},
		{
			name: "wrong type at a path",
			doc: encode(t, func() any {
				list := graphListDoc()
				evidenceOf(incidentOf(list, 1), 0, 2)["fileDetails"].(map[string]any)["fileSize"] = "big"
				return list
			}()),
			path: "$.value[1].alerts[0].evidence[2].fileDetails.fileSize", problem: `expected an integer, found the string "big"`,
			fix: "change the value to an integer",
		},
		{
			name: "Graph incident fetched without its alerts",
			doc: encode(t, func() any {
				list := graphListDoc()
				delete(incidentOf(list, 1), "alerts")
				return list
			}()),
			path: "$.value[1]", problem: "the incident has no alerts property: Graph returns the alerts only when asked",
			fix: "?$expand=alerts",
		},
		{
			name: "wrong type of an incident field",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				doc["customTags"] = "Phishing"
				return doc
			}()),
			path: "$.customTags", problem: `expected an array, found the string "Phishing"`,
		},
		{
			name: "missing required Graph field",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				delete(doc, "displayName")
				return doc
			}()),
			path: "$.displayName", problem: "title is missing",
		},
		{
			name: "missing required native field",
			doc: encode(t, func() any {
				doc := nativeIncidentDoc()
				delete(doc, "createdAt")
				return doc
			}()),
			path: "$.createdAt", problem: "creation time is missing", fix: "RFC 3339",
		},
		{
			name: "bad enum",
			doc: encode(t, func() any {
				list := graphListDoc()
				evidenceOf(incidentOf(list, 1), 0, 3)["verdict"] = "evil"
				return list
			}()),
			path: "$.value[1].alerts[0].evidence[3].verdict", problem: `unknown verdict "evil"`,
			fix: "use one of: unknown, suspicious, malicious, noThreatsFound",
		},
		{
			name: "bad severity",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				doc["severity"] = "urgent"
				return doc
			}()),
			path: "$.severity", problem: `unknown severity "urgent"`, fix: "unknown, informational, low, medium, high",
		},
		{
			name: "bad role",
			doc: encode(t, func() any {
				doc := nativeIncidentDoc()
				entityOf(doc, 0, 0)["roles"] = []any{"source", "villain"}
				return doc
			}()),
			path: "$.alerts[0].entities[0].roles[1]", problem: `unknown role "villain"`, fix: "commandAndControl",
		},
		{
			name: "bad Graph timestamp",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				alertOf(doc, 0)["createdDateTime"] = "yesterday"
				return doc
			}()),
			path: "$.alerts[0].createdDateTime", problem: `"yesterday" is not an RFC 3339 timestamp`,
			fix: "2024-05-01T12:00:00Z",
		},
		{
			name: "bad native timestamp",
			doc: encode(t, func() any {
				doc := nativeIncidentDoc()
				alertOf(doc, 0)["createdAt"] = "2024-05-01 10:00"
				return doc
			}()),
			path: "$.alerts[0].createdAt", problem: `"2024-05-01 10:00" is not an RFC 3339 timestamp`,
		},
		{
			name: "zero timestamp",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				alertOf(doc, 1)["createdDateTime"] = "0001-01-01T00:00:00Z"
				return doc
			}()),
			path: "$.alerts[1].createdDateTime", problem: "creation time is missing",
		},
		{
			name: "bad IP",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				evidenceOf(doc, 0, 1)["ipAddress"] = "300.1.2.3"
				return doc
			}()),
			path: "$.alerts[0].evidence[1].ipAddress", problem: `"300.1.2.3" is not an IP address`,
		},
		{
			name: "bad device IP",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				evidenceOf(doc, 0, 0)["ipInterfaces"] = []any{"10.0.0.4", "localhost"}
				return doc
			}()),
			path: "$.alerts[0].evidence[0].ipInterfaces[1]", problem: `"localhost" is not an IP address`,
		},
		{
			name: "bad hash",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				evidenceOf(doc, 0, 2)["fileDetails"].(map[string]any)["sha256"] = "46f9dc49c0f3"
				return doc
			}()),
			path: "$.alerts[0].evidence[2].fileDetails.sha256", problem: `"46f9dc49c0f3" is not a SHA-256 hash (64 hex digits)`,
		},
		{
			name: "bad native hash",
			doc: encode(t, func() any {
				doc := nativeIncidentDoc()
				alertOf(doc, 0)["entities"] = []any{map[string]any{"kind": "file", "file": map[string]any{"sha1": strings.Repeat("g", 40)}}}
				return doc
			}()),
			path: "$.alerts[0].entities[0].file.sha1", problem: `"gggggggggggggggggggggggggggggggggggggggg" is not a SHA-1 hash (40 hex digits)`,
		},
		{
			name: "duplicate alert id",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				alertOf(doc, 1)["id"] = "da0001_1"
				return doc
			}()),
			path: "$.alerts[1].id", problem: `duplicate alert id "da0001_1" (alert 0 has it too)`,
		},
		{
			name: "tenant mismatch",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				alertOf(doc, 1)["tenantId"] = "0b5c7d9e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"
				return doc
			}()),
			path:    "$.alerts[1].tenantId",
			problem: `alert tenant "0b5c7d9e-1f2a-4b3c-8d4e-5f6a7b8c9d0e" differs from the incident's tenant "` + testTenant + `"`,
		},
		{
			name: "alert of another incident",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				alertOf(doc, 0)["incidentId"] = "2"
				return doc
			}()),
			path: "$.alerts[0].incidentId", problem: `alert belongs to incident "2", not to "1"`,
		},
		{
			name: "oversized document",
			doc:  oversized,
			path: "$", problem: "document is larger than 16777216 bytes (16 MiB)", fix: "split it",
		},
		{
			name: "unknown field in native",
			doc: encode(t, func() any {
				doc := nativeIncidentDoc()
				entityOf(doc, 0, 0)["verdit"] = "malicious"
				return doc
			}()),
			path: "$.alerts[0].entities[0].verdit", problem: `unknown field "verdit"`, fix: "remediationStatus, roles, securityGroup",
		},
		{
			name: "native field in the wrong case",
			doc: encode(t, func() any {
				doc := nativeIncidentDoc()
				doc["Title"] = doc["title"]
				delete(doc, "title")
				return doc
			}()),
			path: "$.Title", problem: `unknown field "Title"`, fix: `did you mean "title"?`,
		},
		{
			name: "unknown field next to a native list",
			doc:  encode(t, map[string]any{"value": []any{nativeIncidentDoc()}, "next": "x"}),
			path: "$.next", problem: `unknown field "next"`, fix: "the fields here are value",
		},
		{
			name: "duplicate key",
			doc:  []byte(`{"tenantId": "t", "id": "1", "id": "2", "title": "x"}`),
			path: "$.id", problem: "duplicate key",
		},
		{
			name: "NUL byte",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				doc["displayName"] = "Bad\u0000title"
				return doc
			}()),
			path: "$.displayName", problem: "text contains a NUL byte",
		},
		{
			name: "NUL byte in generic evidence",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				alertOf(doc, 1)["evidence"] = []any{map[string]any{
					"@odata.type": "#microsoft.graph.security.dnsEvidence",
					"dnsServerIp": map[string]any{"ipAddress": "10.0.0.1\u0000"},
				}}
				return doc
			}()),
			path: "$.alerts[1].evidence[0].dnsServerIp.ipAddress", problem: "text contains a NUL byte",
		},
		{
			name: "invalid UTF-8",
			doc:  []byte("{\"id\": \"1\",\n \"title\": \"caf\xe9\"}"),
			path: "", problem: "text is not valid UTF-8 at line 2, column 15",
		},
		{
			name: "UTF-16",
			doc:  []byte("\xff\xfe{\x00}\x00"),
			path: "", problem: "document is UTF-16 encoded",
		},
		{
			name: "bad MITRE technique",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				alertOf(doc, 0)["mitreTechniques"] = []any{"T1566.001", "Phishing"}
				return doc
			}()),
			path: "$.alerts[0].mitreTechniques[1]", problem: `"Phishing" is not a MITRE ATT&CK technique id`,
		},
		{
			name: "bad incident id",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				doc["id"] = "1 OR 1=1"
				alertOf(doc, 0)["incidentId"] = "1 OR 1=1"
				return doc
			}()),
			path: "$.id", problem: `incident id "1 OR 1=1" is not 1 to 128 characters of A-Z a-z 0-9 . _ : -`,
		},
		{
			name: "missing tenant",
			doc: encode(t, func() any {
				doc := nativeIncidentDoc()
				delete(doc, "tenantId")
				return doc
			}()),
			path: "$.tenantId", problem: "tenant id is missing",
		},
		{
			name: "evidence without type",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				delete(evidenceOf(doc, 0, 1), "@odata.type")
				return doc
			}()),
			path: `$.alerts[0].evidence[1]["@odata.type"]`, problem: "evidence has no @odata.type",
		},
		{
			name: "evidence that is not an object",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				alertOf(doc, 1)["evidence"] = []any{"https://x.example"}
				return doc
			}()),
			path: "$.alerts[1].evidence[0]", problem: `expected an object, found the string "https://x.example"`,
		},
		{
			name: "device without identity",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				delete(evidenceOf(doc, 0, 0), "mdeDeviceId")
				delete(evidenceOf(doc, 0, 0), "deviceDnsName")
				return doc
			}()),
			path: "$.alerts[0].evidence[0]", problem: "a device needs mdeDeviceId, azureAdDeviceId or deviceDnsName",
		},
		{
			name: "user without identity",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				evidenceOf(doc, 0, 3)["userAccount"] = map[string]any{"displayName": "Megan"}
				return doc
			}()),
			path:    "$.alerts[0].evidence[3]",
			problem: "a user needs userAccount.userPrincipalName, userAccount.azureAdUserId, userAccount.userSid or userAccount.accountName",
		},
		{
			name: "relative URL",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				evidenceOf(doc, 1, 0)["url"] = "/view?id=1"
				return doc
			}()),
			path: "$.alerts[1].evidence[0].url", problem: `"/view?id=1" is not an absolute URL`,
		},
		{
			name: "entity with two details",
			doc: encode(t, func() any {
				doc := nativeIncidentDoc()
				entityOf(doc, 0, 0)["url"] = map[string]any{"url": "https://x.example"}
				return doc
			}()),
			path: "$.alerts[0].entities[0].url", problem: `an entity of kind ip must not also have a "url" object`,
		},
		{
			name: "unknown entity kind",
			doc: encode(t, func() any {
				doc := nativeIncidentDoc()
				entityOf(doc, 0, 0)["kind"] = "printer"
				return doc
			}()),
			path: "$.alerts[0].entities[0].kind", problem: `unknown entity kind "printer"`,
		},
		{
			name: "title too long",
			doc: encode(t, func() any {
				doc := nativeIncidentDoc()
				alertOf(doc, 0)["title"] = strings.Repeat("é", 1025)
				return doc
			}()),
			path: "$.alerts[0].title", problem: "title is 1025 characters long; at most 1024 are allowed",
		},
		{
			name: "javascript link",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				doc["incidentWebUrl"] = "javascript:alert(1)"
				return doc
			}()),
			path: "$.incidentWebUrl", problem: `"javascript:alert(1)" is not an http or https URL`,
		},
		{
			name: "too much evidence",
			doc: encode(t, func() any {
				doc := graphIncidentDoc("1")
				var evidence []any
				for range MaxEntitiesPerAlert + 1 {
					evidence = append(evidence, evidenceOf(doc, 1, 0))
				}
				alertOf(doc, 1)["evidence"] = evidence
				return doc
			}()),
			path: "$.alerts[1].evidence", problem: "5001 entities; at most 5000 are allowed per alert",
		},
		{
			name: "not an incident",
			doc:  []byte(`{"foo": 1}`),
			path: "$", problem: "cannot tell whether this is a Microsoft Graph or a native incident document",
			fix: "a Graph incident (GET /security/incidents/{id}?$expand=alerts) has displayName",
		},
		{
			name: "not an object",
			doc:  []byte(`"incident"`),
			path: "$", problem: "expected a JSON object or array, found a string",
		},
		{
			name: "value is not a list",
			doc:  []byte(`{"value": {"id": "1"}}`),
			path: "$.value", problem: "expected an array of incidents, found an object",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			incidents, err := Parse("in.json", tt.doc)
			if incidents != nil {
				t.Errorf("got %d incidents with the error, want none", len(incidents))
			}
			if err == nil {
				t.Fatal("no error")
			}
			list := problemsOf(t, err)
			if len(list) != 1 {
				t.Errorf("got %d problems, want 1:\n%v", len(list), err)
			}
			got := list[0]
			if got.File != "in.json" || got.Path != tt.path || got.Problem != tt.problem {
				t.Errorf("got\n  file %q path %q problem %q\nwant\n  file %q path %q problem %q",
					got.File, got.Path, got.Problem, "in.json", tt.path, tt.problem)
			}
			if !strings.Contains(got.Fix, tt.fix) || got.Fix == "" {
				t.Errorf("fix %q does not contain %q", got.Fix, tt.fix)
			}
			want := "in.json: " + tt.path + ": " + tt.problem + " (" + got.Fix + ")"
			if tt.path == "" {
				want = "in.json: " + tt.problem + " (" + got.Fix + ")"
			}
			if got.Error() != want {
				t.Errorf("Error() = %q, want %q", got.Error(), want)
			}
		})
	}
}

func TestParseSyntaxErrorPosition(t *testing.T) {
	tests := []struct {
		doc          string
		line, column int
		path         string
	}{
		{"{\n  \"a\": [1, 2,, 3]\n}", 2, 14, "$.a[1]"},
		{`{"value": [{"id": "1"}, {"id": "2", "alerts": [{"title": "é" "x"}]}]}`, 1, 62, "$.value[1].alerts[0].title"},
		{"{\"id\": \"1\"", 1, 11, "$.id"},
		{"", 1, 1, "$"},
	}
	for _, tt := range tests {
		_, err := Parse("s.json", []byte(tt.doc))
		if err == nil {
			t.Errorf("%q: no error", tt.doc)
			continue
		}
		got := problemsOf(t, err)[0]
		if got.Line != tt.line || got.Column != tt.column || got.Path != tt.path {
			t.Errorf("%q: got line %d column %d path %q, want %d %d %q (%v)",
				tt.doc, got.Line, got.Column, got.Path, tt.line, tt.column, tt.path, err)
		}
	}
}

// TestParseRefusesWholeList checks that one bad incident in a list refuses the list, and that problems of
// several incidents are reported together.
func TestParseRefusesWholeList(t *testing.T) {
	list := graphListDoc()
	incidentOf(list, 0)["severity"] = "bad"
	evidenceOf(incidentOf(list, 1), 0, 1)["ipAddress"] = "not-an-ip"
	alertOf(incidentOf(list, 1), 1)["title"] = ""
	incidents, err := Parse("list.json", encode(t, list))
	if incidents != nil {
		t.Errorf("got %d incidents, want none", len(incidents))
	}
	var paths []string
	for _, p := range problemsOf(t, err) {
		paths = append(paths, p.Path)
	}
	want := []string{"$.value[0].severity", "$.value[1].alerts[0].evidence[1].ipAddress", "$.value[1].alerts[1].title"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
	if n := strings.Count(err.Error(), "\n"); n != 2 {
		t.Errorf("error has %d newlines, want 2:\n%v", n, err)
	}
}

func TestParseCapsProblems(t *testing.T) {
	doc := nativeIncidentDoc()
	var alerts []any
	for range 25 {
		alerts = append(alerts, map[string]any{"id": "x", "title": "t", "severity": "none", "createdAt": "2024-05-01T10:00:00Z"})
	}
	doc["alerts"] = alerts
	_, err := Parse("many.json", encode(t, doc))
	list := problemsOf(t, err)
	if len(list) != maxProblems+1 {
		t.Fatalf("got %d problems, want %d and a note", len(list), maxProblems)
	}
	// 25 bad severities and 24 duplicate ids: 49 problems, 20 shown.
	if got := list[maxProblems].Problem; got != "more problems not shown (at most 20 are)" {
		t.Errorf("note = %q", got)
	}
}

func TestParseFileErrors(t *testing.T) {
	if _, err := ParseFile("testdata/does-not-exist.json"); err == nil || !strings.Contains(err.Error(), "does-not-exist.json") {
		t.Errorf("err = %v, want one naming the file", err)
	}
}

func TestParseGraphEnumValues(t *testing.T) {
	doc := graphIncidentDoc("1")
	doc["status"] = "unknownFutureValue"
	doc["determination"] = "compromisedUser"
	alertOf(doc, 0)["severity"] = "unknownFutureValue"
	evidenceOf(doc, 0, 2)["remediationStatus"] = "unknownFutureValue"
	evidenceOf(doc, 0, 1)["remediationStatus"] = "running"
	incidents, err := Parse("enums", encode(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	inc := incidents[0]
	if inc.Status != StatusUnknown || inc.Determination != DeterminationCompromisedAccount ||
		inc.Alerts[0].Severity != SeverityUnknown || inc.Alerts[0].Entities[2].RemediationStatus != "" ||
		inc.Alerts[0].Entities[1].RemediationStatus != RemediationRunning {
		t.Errorf("got status %q determination %q severity %q remediation %q, %q", inc.Status, inc.Determination,
			inc.Alerts[0].Severity, inc.Alerts[0].Entities[2].RemediationStatus, inc.Alerts[0].Entities[1].RemediationStatus)
	}
}

func TestParseBOM(t *testing.T) {
	data, err := json.Marshal(nativeIncidentDoc())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("bom", append([]byte("\xEF\xBB\xBF"), data...)); err != nil {
		t.Error(err)
	}
}

func TestValidate(t *testing.T) {
	valid := func() Incident {
		return Incident{
			TenantID: testTenant, ID: "9", Title: "t", Severity: SeverityLow, Status: StatusActive,
			CreatedAt: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
			Alerts: []Alert{{
				ID: "a", Title: "t", Severity: SeverityLow, CreatedAt: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
				Entities: []Entity{{Kind: KindUser, User: &UserAccount{UserPrincipalName: "u@contoso.com"}}},
			}},
		}
	}
	inc := valid()
	if err := inc.Validate(); err != nil {
		t.Fatalf("valid incident: %v", err)
	}

	tests := []struct {
		name    string
		change  func(*Incident)
		path    string
		problem string
	}{
		{"missing detail", func(i *Incident) { i.Alerts[0].Entities[0].User = nil },
			"$.alerts[0].entities[0].user", `an entity of kind user needs its "user" object`},
		{"empty classification allowed, bad one not", func(i *Incident) { i.Classification = "benignPositive" },
			"$.classification", `unknown classification "benignPositive"`},
		{"alert status of an incident", func(i *Incident) { i.Status = StatusNew },
			"$.status", `unknown incident status "new"`},
		{"too many alerts", func(i *Incident) {
			for len(i.Alerts) <= MaxAlerts {
				a := i.Alerts[0]
				a.ID = "a" + strconv.Itoa(len(i.Alerts))
				i.Alerts = append(i.Alerts, a)
			}
		}, "$.alerts", "1001 alerts; at most 1000 are allowed"},
		{"too many entities", func(i *Incident) {
			for len(i.Alerts[0].Entities) <= MaxEntitiesPerAlert {
				i.Alerts[0].Entities = append(i.Alerts[0].Entities, i.Alerts[0].Entities[0])
			}
		}, "$.alerts[0].entities", "5001 entities; at most 5000 are allowed per alert"},
		{"time out of range", func(i *Incident) { i.LastUpdatedAt = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) },
			"$.lastUpdatedAt", "last update time 1969-12-31T00:00:00Z is out of range"},
		{"invalid UTF-8", func(i *Incident) { i.Alerts[0].Entities[0].Tags = []string{"ok", "\xff"} },
			"$.alerts[0].entities[0].tags[1]", "text is not valid UTF-8"},
		{"mailbox address", func(i *Incident) {
			i.Alerts[0].Entities[0] = Entity{Kind: KindMailbox, Mailbox: &Mailbox{PrimaryAddress: "Megan Bowen"}}
		}, "$.alerts[0].entities[0].mailbox.primaryAddress", `"Megan Bowen" is not an email address`},
		{"email without id", func(i *Incident) {
			i.Alerts[0].Entities[0] = Entity{Kind: KindAnalyzedMessage, AnalyzedMessage: &AnalyzedMessage{Subject: "hi"}}
		}, "$.alerts[0].entities[0].analyzedMessage", "an email needs networkMessageId or internetMessageId"},
		{"file without identity", func(i *Incident) {
			i.Alerts[0].Entities[0] = Entity{Kind: KindFile, File: &File{FilePath: `C:\Temp`}}
		}, "$.alerts[0].entities[0].file", "a file needs sha1, sha256 or fileName"},
		{"process image hash", func(i *Incident) {
			i.Alerts[0].Entities[0] = Entity{Kind: KindProcess, Process: &Process{ProcessID: 4, ImageFile: &File{SHA256: "xyz"}}}
		}, "$.alerts[0].entities[0].process.imageFile.sha256", `"xyz" is not a SHA-256 hash (64 hex digits)`},
		{"generic without type", func(i *Incident) {
			i.Alerts[0].Entities[0] = Entity{Kind: KindGeneric, Generic: &Generic{Properties: map[string]any{"a": 1}}}
		}, "$.alerts[0].entities[0].generic.type", "a generic entity needs its type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := valid()
			tt.change(&inc)
			err := inc.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			got := problemsOf(t, err)[0]
			if got.File != "" || got.Path != tt.path || got.Problem != tt.problem {
				t.Errorf("got path %q problem %q, want %q %q", got.Path, got.Problem, tt.path, tt.problem)
			}
		})
	}
}

func TestParseErrorRendering(t *testing.T) {
	e := &ParseError{File: "f.json", Path: "$.a", Problem: "bad", Fix: "fix it"}
	if e.Error() != "f.json: $.a: bad (fix it)" {
		t.Errorf("got %q", e.Error())
	}
	list := ParseErrors{e, {Problem: "worse"}}
	if list.Error() != "f.json: $.a: bad (fix it)\nworse" {
		t.Errorf("got %q", list.Error())
	}
	var target *ParseError
	if !errors.As(error(list), &target) || target != e {
		t.Error("errors.As does not find the first problem")
	}
}

func TestParseSeverity(t *testing.T) {
	if s, err := ParseSeverity("High"); err != nil || s != SeverityHigh {
		t.Errorf("got %q, %v", s, err)
	}
	if _, err := ParseSeverity("urgent"); err == nil || !strings.Contains(err.Error(), "informational") {
		t.Errorf("err = %v", err)
	}
	if !(SeverityHigh.Rank() > SeverityMedium.Rank() && Severity("x").Rank() == -1) {
		t.Error("severity ranks out of order")
	}
}

func TestNextLink(t *testing.T) {
	page := `{"@odata.context": "x", "@odata.nextLink": "https://graph.microsoft.com/v1.0/security/incidents?$skiptoken=Z2", "value": []}`
	if got := NextLink([]byte(page)); got != "https://graph.microsoft.com/v1.0/security/incidents?$skiptoken=Z2" {
		t.Errorf("NextLink = %q", got)
	}
	for _, doc := range []string{`{"value": []}`, `[]`, `{"@odata.nextLink": 7}`, `not json`} {
		if got := NextLink([]byte(doc)); got != "" {
			t.Errorf("NextLink(%s) = %q, want none", doc, got)
		}
	}
	// Parse takes the page as it is.
	if incs, err := Parse("page", []byte(page)); err != nil || len(incs) != 0 {
		t.Errorf("Parse of an empty page: %v, %v", incs, err)
	}
}
