package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/api"
	"github.com/guided-response/guided/auth"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/internal/testenv"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/workflows"
)

const (
	tenant      = "4d3a7c2e-5b1f-4e8a-9c6d-2f7b8a1e0c93"
	otherTenant = "fabrikam"
	hookSecret  = "servicenow-shared-secret-0123456789"
)

// fixture is the API over the embedded stack with principals of two tenants and their tokens.
type fixture struct {
	t      *testing.T
	env    *testenv.Env
	srv    *httptest.Server
	tokens map[string]string // principal -> API token
}

func newFixture(t *testing.T) *fixture {
	env := testenv.Start(t)
	ctx := context.Background()
	f := &fixture{t: t, env: env, tokens: map[string]string{}}
	tokens := auth.NewTokenStore(env.Stack.DB, env.Logger)
	for _, p := range []struct {
		tenant, id string
		roles      []string
	}{
		{tenant, "alice@contoso.com", []string{rbac.RoleSecurityOperator, rbac.RoleEmailOperator}},
		{tenant, "bob@contoso.com", []string{rbac.RoleSecurityOperator, rbac.RoleEmailOperator}},
		{tenant, "rita@contoso.com", []string{rbac.RoleSecurityReader}},
		{tenant, "svc-servicenow", []string{rbac.RoleSecurityOperator, rbac.RoleEmailOperator}},
		{otherTenant, "eve@fabrikam.com", []string{rbac.RoleSecurityAdministrator}},
	} {
		if err := env.Activities.Access.UpsertPrincipal(ctx, rbac.PrincipalInput{TenantID: p.tenant, ID: p.id}); err != nil {
			t.Fatal(err)
		}
		for _, role := range p.roles {
			if err := env.Activities.Access.GrantRole(ctx, p.tenant, p.id, role); err != nil {
				t.Fatal(err)
			}
		}
		tok, _, err := tokens.Create(ctx, p.tenant, p.id, "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[p.id] = tok
	}
	srv, err := api.New(api.Config{
		Temporal: env.Client, TaskQueue: env.TaskQueue, Store: env.Store, Access: env.Activities.Access,
		Auth: auth.Chain{tokens}, Logger: env.Logger,
		Webhooks: map[string]api.WebhookSource{
			"servicenow": {ID: "servicenow", Secret: []byte(hookSecret), TenantID: tenant, Principal: "svc-servicenow"},
		},
		Deliveries: api.NewPostgresDeliveries(env.Stack.DB), RatePerSecond: 200, Burst: 400,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(srv.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// response is an HTTP answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (f *fixture) do(method, path, principal string, body []byte, header map[string]string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if principal != "" {
		req.Header.Set("Authorization", "Bearer "+f.tokens[principal])
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (f *fixture) status(ref string) workflows.StatusOutput {
	f.t.Helper()
	resp, err := f.env.Client.QueryWorkflow(context.Background(), workflows.IncidentWorkflowID(tenant, ref), "", workflows.QueryStatus, workflows.StatusInput{})
	if err != nil {
		f.t.Fatal(err)
	}
	var st workflows.StatusOutput
	if err := resp.Get(&st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

// stateOf is the part of the workflow's state a refused request must leave alone.
func (f *fixture) stateOf(id string) string {
	st := f.status(id)
	return string(mustJSON([]any{st.Classification, st.CardsByStatus, st.PendingApprovals}))
}

// settle waits until no action of the incident is approved or applying.
func (f *fixture) settle(id string) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := f.status(id)
		if st.CardsByStatus[card.StatusApplying] == 0 && st.CardsByStatus[card.StatusApproved] == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("actions never settled: %v", st.CardsByStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *fixture) ingest(file, principal string) response {
	f.t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.do("POST", "/v1/incidents", principal, b, nil)
}

func (f *fixture) waitCards(id, principal string) workflows.CardsOutput {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := f.do("GET", "/v1/incidents/"+tenant+"/"+id+"/cards", principal, nil, nil)
		if r.status == http.StatusOK {
			var out workflows.CardsOutput
			r.json(f.t, &out)
			if out.Ready {
				return out
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("cards never ready: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func isProblem(t *testing.T, r response, status int, detail string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("content type %q for a problem", ct)
	}
	var p api.Problem
	r.json(t, &p)
	if p.Status != status || p.Title == "" || !strings.Contains(p.Detail, detail) {
		t.Fatalf("problem %+v, want detail containing %q", p, detail)
	}
	for _, secret := range []string{hookSecret, "grt_", "panic", "goroutine"} {
		if strings.Contains(string(r.body), secret) {
			t.Fatalf("problem leaks %q: %s", secret, r.body)
		}
	}
}

func TestAPI(t *testing.T) {
	f := newFixture(t)
	const id = "3201"
	incPath := "/v1/incidents/" + tenant + "/" + id

	t.Run("health is the only anonymous access", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			if r := f.do("GET", path, "", nil, nil); r.status != http.StatusOK {
				t.Errorf("%s: %d %s", path, r.status, r.body)
			}
		}
		for _, path := range []string{"/metrics", "/v1/openapi.json", "/v1/openapi.yaml", "/v1/incidents"} {
			isProblem(t, f.do("GET", path, "", nil, nil), http.StatusUnauthorized, "")
			if r := f.do("GET", path, "rita@contoso.com", nil, nil); r.status != http.StatusOK {
				t.Errorf("%s with a token: %d %s", path, r.status, r.body)
			}
		}
	})

	t.Run("authentication", func(t *testing.T) {
		for name, header := range map[string]map[string]string{
			"no token":        nil,
			"wrong token":     {"Authorization": "Bearer grt_0123456789abcdef01234567_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
			"not bearer":      {"Authorization": "Basic YWxpY2U6cGFzcw=="},
			"garbage":         {"Authorization": "Bearer !!!not-a-token!!!"},
			"jwt, no issuer":  {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
			"token of nobody": {"Authorization": "Bearer grt_"},
		} {
			t.Run(name, func(t *testing.T) {
				isProblem(t, f.do("GET", "/v1/incidents", "", nil, header), http.StatusUnauthorized, "")
			})
		}
	})

	t.Run("ingest", func(t *testing.T) {
		r := f.ingest("../incident/testdata/native_phishing.json", "alice@contoso.com")
		if r.status != http.StatusAccepted {
			t.Fatalf("ingest: %d %s", r.status, r.body)
		}
		var out struct {
			Items []struct{ WorkflowID, RunID string } `json:"items"`
		}
		r.json(t, &out)
		if len(out.Items) != 1 || out.Items[0].WorkflowID != workflows.IncidentWorkflowID(tenant, id) {
			t.Fatalf("ingest answer %s", r.body)
		}
		again := f.ingest("../incident/testdata/native_phishing.json", "alice@contoso.com")
		var out2 struct {
			Items []struct{ WorkflowID, RunID string } `json:"items"`
		}
		again.json(t, &out2)
		if again.status != http.StatusAccepted || out2.Items[0].RunID != out.Items[0].RunID {
			t.Fatalf("second ingest started another run: %s", again.body)
		}
		isProblem(t, f.ingest("../incident/testdata/native_phishing.json", "rita@contoso.com"), http.StatusForbidden, "lacks permission")
		isProblem(t, f.ingest("../incident/testdata/native_phishing.json", "eve@fabrikam.com"), http.StatusForbidden, "another tenant")
		isProblem(t, f.do("POST", "/v1/incidents", "alice@contoso.com", []byte(`{"tenantId": 7`), nil), http.StatusUnprocessableEntity, "invalid")
		// A page of a longer Graph list: the answer says where the rest is.
		page := []byte(`{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/incidents", "value": [],
			"@odata.nextLink": "https://graph.microsoft.com/v1.0/security/incidents?$expand=alerts&$skiptoken=Z2"}`)
		if r := f.do("POST", "/v1/incidents", "alice@contoso.com", page, nil); r.status != http.StatusAccepted ||
			!strings.Contains(string(r.body), `"nextLink":"https://graph.microsoft.com/v1.0/security/incidents?$expand=alerts\u0026$skiptoken=Z2"`) {
			t.Errorf("a list page: %d %s", r.status, r.body)
		}
		big := bytes.Repeat([]byte(" "), api.IngestBodyLimit+1)
		isProblem(t, f.do("POST", "/v1/incidents", "alice@contoso.com", big, nil), http.StatusRequestEntityTooLarge, "")
	})

	cards := f.waitCards(id, "alice@contoso.com")

	t.Run("reads are confined to the tenant", func(t *testing.T) {
		var list struct {
			Items []struct {
				IncidentID string `json:"incidentId"`
			} `json:"items"`
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := f.do("GET", "/v1/incidents?severity=medium&limit=10", "rita@contoso.com", nil, nil)
			r.json(t, &list)
			if len(list.Items) == 1 && list.Items[0].IncidentID == id {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("list: %d %s", r.status, r.body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		r := f.do("GET", "/v1/incidents", "eve@fabrikam.com", nil, nil)
		r.json(t, &list)
		if r.status != http.StatusOK || len(list.Items) != 0 {
			t.Fatalf("another tenant's list: %s", r.body)
		}
		isProblem(t, f.do("GET", "/v1/incidents?severity=apocalyptic", "rita@contoso.com", nil, nil), http.StatusUnprocessableEntity, "severity")
		for _, suffix := range []string{"", "/summary", "/cards", "/hunting", "/audit", "/report"} {
			isProblem(t, f.do("GET", "/v1/incidents/"+tenant+"/"+id+suffix, "eve@fabrikam.com", nil, nil), http.StatusNotFound, "no such incident")
		}
		for _, suffix := range []string{"", "/summary", "/hunting", "/audit"} {
			if r := f.do("GET", incPath+suffix, "rita@contoso.com", nil, nil); r.status != http.StatusOK {
				t.Errorf("GET %s: %d %s", suffix, r.status, r.body)
			}
		}
		r = f.do("GET", incPath+"/hunting", "rita@contoso.com", nil, nil)
		if !strings.Contains(string(r.body), "EmailEvents") {
			t.Errorf("hunting lacks the similar-emails query: %s", r.body)
		}
		// A second incident with the same evidence is the most similar one.
		raw, err := os.ReadFile("../incident/testdata/native_phishing.json")
		if err != nil {
			t.Fatal(err)
		}
		// Alert IDs are unique in a tenant (an alert moves with its evidence), so the twin's alerts get new ones.
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		doc["id"] = "3202"
		for _, al := range doc["alerts"].([]any) {
			al.(map[string]any)["id"] = "twin-" + al.(map[string]any)["id"].(string)
		}
		twin := mustJSON(doc)
		if r := f.do("POST", "/v1/incidents", "alice@contoso.com", twin, nil); r.status != http.StatusAccepted {
			t.Fatalf("ingest the twin: %d %s", r.status, r.body)
		}
		var similar struct {
			Items []struct {
				IncidentID string  `json:"incidentId"`
				Score      float64 `json:"score"`
			} `json:"items"`
		}
		deadline = time.Now().Add(20 * time.Second)
		for {
			r := f.do("GET", incPath+"/similar?k=5", "rita@contoso.com", nil, nil)
			r.json(t, &similar)
			if r.status == http.StatusOK && len(similar.Items) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("similar: %d %s", r.status, r.body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if similar.Items[0].IncidentID != "3202" || similar.Items[0].Score != 1 {
			t.Errorf("most similar %+v, want the twin 3202 with score 1", similar.Items)
		}
		isProblem(t, f.do("GET", incPath+"/similar?k=0", "rita@contoso.com", nil, nil), http.StatusUnprocessableEntity, "k must")
		var readerCards workflows.CardsOutput
		f.do("GET", incPath+"/cards", "rita@contoso.com", nil, nil).json(t, &readerCards)
		greyed := 0
		for _, c := range readerCards.Cards {
			if !c.Available && strings.Contains(c.UnavailableReason, "lacks permission") {
				greyed++
			}
		}
		if greyed == 0 {
			t.Error("no card greyed out for the reader")
		}
	})

	var target, other workflows.CardView
	for _, c := range cards.Cards {
		if c.Category != card.CategoryTriage && c.Action.Applicable() && c.TimeBox == 0 && c.ApprovalsRequired == 1 {
			if target.ID == "" {
				target = c
			} else if other.ID == "" {
				other = c
			}
		}
	}
	if target.ID == "" || other.ID == "" {
		t.Fatalf("need two single-approval actions among %+v", cards.Cards)
	}

	t.Run("refused decisions change nothing", func(t *testing.T) {
		before := f.stateOf(id)
		cases := []struct {
			name, principal, path string
			body                  []byte
			status                int
			detail                string
		}{
			{"reader classifies", "rita@contoso.com", incPath + "/classification", mustJSON(map[string]string{"classification": "truePositive", "determination": "phishing"}), 403, "lacks permission"},
			{"wrong determination", "alice@contoso.com", incPath + "/classification", mustJSON(map[string]string{"classification": "falsePositive", "determination": "phishing"}), 422, "does not go with"},
			{"unknown field", "alice@contoso.com", incPath + "/classification", []byte(`{"classification":"truePositive","determination":"phishing","principal":"bob@contoso.com"}`), 400, "principal"},
			{"trailing data", "alice@contoso.com", incPath + "/cards/decisions", []byte(`{"cardIds":["x"],"decision":"approve"} {}`), 400, ""},
			{"malformed", "alice@contoso.com", incPath + "/cards/decisions", []byte(`{"cardIds":`), 400, ""},
			{"unknown card", "alice@contoso.com", incPath + "/cards/decisions", mustJSON(map[string]any{"cardIds": []string{"c-nope"}, "decision": "approve"}), 404, "no card"},
			{"reader approves", "rita@contoso.com", incPath + "/cards/decisions", mustJSON(map[string]any{"cardIds": []string{target.ID}, "decision": "approve"}), 403, "lacks permission"},
			{"another tenant", "eve@fabrikam.com", incPath + "/cards/decisions", mustJSON(map[string]any{"cardIds": []string{target.ID}, "decision": "approve"}), 404, "no such incident"},
			{"extend what is not boxed", "alice@contoso.com", incPath + "/cards/" + target.ID + "/extend", mustJSON(map[string]string{"by": "4h"}), 409, "not a time-boxed"},
			{"oversized", "alice@contoso.com", incPath + "/cards/decisions", bytes.Repeat([]byte("x"), api.DefaultBodyLimit+10), 413, ""},
			{"feedback without verdict", "rita@contoso.com", incPath + "/cards/" + target.ID + "/feedback", mustJSON(map[string]string{"reason": "x"}), 422, "helpful"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				isProblem(t, f.do("POST", tc.path, tc.principal, tc.body, nil), tc.status, tc.detail)
			})
		}
		if after := f.stateOf(id); after != before {
			t.Fatalf("state changed by refused requests:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("accepted decisions answer the new state", func(t *testing.T) {
		r := f.do("POST", incPath+"/classification", "alice@contoso.com", mustJSON(map[string]string{"classification": "truePositive", "determination": "phishing"}), nil)
		if r.status != http.StatusOK {
			t.Fatalf("classify: %d %s", r.status, r.body)
		}
		r = f.do("POST", incPath+"/cards/decisions", "alice@contoso.com", mustJSON(map[string]any{"cardIds": []string{target.ID}, "decision": "approve"}), nil)
		var out struct {
			Accepted bool                   `json:"accepted"`
			Result   workflows.DecideOutput `json:"result"`
		}
		r.json(t, &out)
		if r.status != http.StatusOK || !out.Accepted || len(out.Result.Cards) != 1 || out.Result.Cards[0].Status == card.StatusProposed {
			t.Fatalf("approve: %d %s", r.status, r.body)
		}
		isProblem(t, f.do("POST", incPath+"/cards/decisions", "alice@contoso.com", mustJSON(map[string]any{"cardIds": []string{target.ID}, "decision": "approve"}), nil), 409, "decided already")
		r = f.do("POST", incPath+"/cards/"+target.ID+"/feedback", "rita@contoso.com", mustJSON(map[string]any{"helpful": true, "reason": "fast"}), nil)
		if r.status != http.StatusOK {
			t.Fatalf("feedback: %d %s", r.status, r.body)
		}

		// A client that retries after a timeout sends the same Idempotency-Key: one record.
		feedbackPath := incPath + "/cards/" + other.ID + "/feedback"
		key := map[string]string{"Idempotency-Key": `"7f3a9c2e-retry"`}
		for range 2 {
			r = f.do("POST", feedbackPath, "rita@contoso.com", mustJSON(map[string]any{"helpful": false, "reason": "slow"}), key)
			var out struct {
				Result workflows.FeedbackOutput `json:"result"`
			}
			r.json(t, &out)
			if r.status != http.StatusOK || out.Result.FeedbackID != "7f3a9c2e-retry" {
				t.Fatalf("feedback with an Idempotency-Key: %d %s", r.status, r.body)
			}
		}
		isProblem(t, f.do("POST", feedbackPath, "rita@contoso.com", mustJSON(map[string]any{"helpful": false, "feedbackId": "another"}), key), 422, "differ")
		isProblem(t, f.do("POST", feedbackPath, "rita@contoso.com", mustJSON(map[string]any{"helpful": false}), map[string]string{"Idempotency-Key": "two words"}), 422, "Idempotency-Key")
		fb, err := f.env.Store.ListFeedback(context.Background(), tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		keyed := 0
		for _, x := range fb {
			if x.FeedbackID == "7f3a9c2e-retry" {
				keyed++
			}
		}
		if keyed != 1 {
			t.Errorf("%d records of the retried feedback, want 1: %+v", keyed, fb)
		}
	})

	t.Run("approval webhooks", func(t *testing.T) {
		signed := func(delivery string, at time.Time, secret string, body []byte) map[string]string {
			ts := strconv.FormatInt(at.Unix(), 10)
			return map[string]string{
				"X-Guided-Timestamp": ts, "X-Guided-Delivery": delivery,
				"X-Guided-Signature": connector.Sign([]byte(secret), ts, body),
			}
		}
		body := mustJSON(map[string]any{"incidentTenant": tenant, "incidentId": id, "kind": "decide",
			"payload": map[string]any{"cardIds": []string{other.ID}, "decision": "reject", "comment": "CHG0042 rejected"}})
		// The action approved above may still be applying: compare states once it has settled.
		f.settle(id)
		before := f.stateOf(id)
		isProblem(t, f.do("POST", "/v1/webhooks/servicenow/decisions", "", body, signed("d-1", time.Now(), "wrong-secret-0123456789", body)), 401, "")
		isProblem(t, f.do("POST", "/v1/webhooks/servicenow/decisions", "", body, signed("d-1", time.Now().Add(-6*time.Minute), hookSecret, body)), 401, "")
		isProblem(t, f.do("POST", "/v1/webhooks/jira/decisions", "", body, signed("d-1", time.Now(), hookSecret, body)), 401, "")
		tampered := bytes.Replace(body, []byte("reject"), []byte("approve"), 1)
		isProblem(t, f.do("POST", "/v1/webhooks/servicenow/decisions", "", tampered, signed("d-1", time.Now(), hookSecret, body)), 401, "")
		foreign := mustJSON(map[string]any{"incidentTenant": otherTenant, "incidentId": id, "kind": "decide", "payload": map[string]any{"cardIds": []string{other.ID}, "decision": "reject"}})
		isProblem(t, f.do("POST", "/v1/webhooks/servicenow/decisions", "", foreign, signed("d-2", time.Now(), hookSecret, foreign)), 404, "no such incident")
		if after := f.stateOf(id); after != before {
			t.Fatalf("state changed by refused webhooks:\nbefore %s\nafter  %s", before, after)
		}

		r := f.do("POST", "/v1/webhooks/servicenow/decisions", "", body, signed("d-3", time.Now(), hookSecret, body))
		if r.status != http.StatusOK {
			t.Fatalf("signed webhook: %d %s", r.status, r.body)
		}
		isProblem(t, f.do("POST", "/v1/webhooks/servicenow/decisions", "", body, signed("d-3", time.Now(), hookSecret, body)), 409, "")
		var cv workflows.CardsOutput
		f.do("GET", incPath+"/cards", "alice@contoso.com", nil, nil).json(t, &cv)
		for _, c := range cv.Cards {
			if c.ID == other.ID && (c.Status != card.StatusRejected || c.Decisions[0].Principal != "svc-servicenow") {
				t.Fatalf("webhook decision not applied as the source's principal: %+v", c)
			}
		}
	})

	t.Run("audit trail", func(t *testing.T) {
		var audit struct {
			Items []struct {
				Kind      string `json:"kind"`
				Principal string `json:"principal"`
			} `json:"items"`
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			f.do("GET", incPath+"/audit", "rita@contoso.com", nil, nil).json(t, &audit)
			seen := map[string]bool{}
			for _, e := range audit.Items {
				seen[e.Kind+"/"+e.Principal] = true
			}
			if seen["classification/alice@contoso.com"] && seen["decision/alice@contoso.com"] && seen["decision/svc-servicenow"] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit trail lacks the decisions: %+v", audit.Items)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("metrics count requests and decisions", func(t *testing.T) {
		r := f.do("GET", "/metrics", "rita@contoso.com", nil, nil)
		for _, want := range []string{"http_requests_total", `guided_decisions_total{kind="decide",outcome="accepted"}`, `outcome="rejected"`} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// A principal over its rate gets 429 with Retry-After.
func TestRateLimit(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	if err := env.Activities.Access.UpsertPrincipal(ctx, rbac.PrincipalInput{TenantID: tenant, ID: "rita@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Activities.Access.GrantRole(ctx, tenant, "rita@contoso.com", rbac.RoleSecurityReader); err != nil {
		t.Fatal(err)
	}
	tokens := auth.NewTokenStore(env.Stack.DB, env.Logger)
	tok, _, err := tokens.Create(ctx, tenant, "rita@contoso.com", "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Temporal: env.Client, Store: env.Store, Access: env.Activities.Access, Auth: auth.Chain{tokens},
		RatePerSecond: 0.5, Burst: 2, Logger: env.Logger})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	var last *http.Response
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", ts.URL+"/v1/incidents", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = resp
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("third request: %d, Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
	}
}
