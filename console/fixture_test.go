package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/api"
	"github.com/guided-response/guided/auth"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/internal/testenv"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/workflows"
)

const tenant = "4d3a7c2e-5b1f-4e8a-9c6d-2f7b8a1e0c93"

// Principals of the tests: an analyst who may classify and apply response and email actions, a second
// one (four-eyes), and a read-only analyst.
const (
	alice = "alice@contoso.com"
	bob   = "bob@contoso.com"
	rita  = "rita@contoso.com"
	// adam may do everything: he works earlier incidents to their end.
	adam = "adam@contoso.com"
)

// fixture is the console served by the API over the embedded stack, with API tokens for the principals.
type fixture struct {
	t      *testing.T
	env    *testenv.Env
	srv    *httptest.Server
	tokens map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := testenv.Start(t)
	ctx := context.Background()
	f := &fixture{t: t, env: env, tokens: map[string]string{}}
	tokens := auth.NewTokenStore(env.Stack.DB, env.Logger)
	for _, p := range []struct {
		id    string
		roles []string
	}{
		{alice, []string{rbac.RoleSecurityOperator, rbac.RoleEmailOperator}},
		{bob, []string{rbac.RoleSecurityOperator, rbac.RoleEmailOperator}},
		{rita, []string{rbac.RoleSecurityReader}},
		{adam, []string{rbac.RoleSecurityAdministrator, rbac.RoleEmailOperator}},
	} {
		if err := env.Activities.Access.UpsertPrincipal(ctx, rbac.PrincipalInput{TenantID: tenant, ID: p.id}); err != nil {
			t.Fatal(err)
		}
		for _, role := range p.roles {
			if err := env.Activities.Access.GrantRole(ctx, tenant, p.id, role); err != nil {
				t.Fatal(err)
			}
		}
		tok, _, err := tokens.Create(ctx, tenant, p.id, "console test", 0)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[p.id] = tok
	}
	srv, err := api.New(api.Config{
		Temporal: env.Client, TaskQueue: env.TaskQueue, Store: env.Store, Access: env.Activities.Access,
		Auth: auth.Chain{tokens}, Logger: env.Logger, RatePerSecond: 500, Burst: 1000,
		UIBaseURL: "http://127.0.0.1:8233",
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(srv.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// apiCall calls the JSON API as principal and decodes the answer into out (when not nil).
func (f *fixture) apiCall(method, path, principal string, body any, out any) int {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+f.tokens[principal])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	if resp.StatusCode >= 300 && out != nil {
		f.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// ingest posts an incident document through the API, with replacements applied to its text.
func (f *fixture) ingest(file string, replace ...string) {
	f.t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		f.t.Fatal(err)
	}
	doc := strings.NewReplacer(replace...).Replace(string(b))
	var raw json.RawMessage = []byte(doc)
	if st := f.apiCall("POST", "/v1/incidents", alice, raw, &map[string]any{}); st != http.StatusAccepted {
		f.t.Fatalf("ingest %s: status %d", file, st)
	}
}

// cards waits until the incident's cards are ready and answers them as principal sees them.
func (f *fixture) cards(id, principal string) workflows.CardsOutput {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var out workflows.CardsOutput
		if f.apiCall("GET", "/v1/incidents/"+tenant+"/"+id+"/cards", principal, nil, &out) == http.StatusOK && out.Ready {
			return out
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the cards of %s were never ready", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (f *fixture) status(id string) workflows.StatusOutput {
	f.t.Helper()
	resp, err := f.env.Client.QueryWorkflow(context.Background(), workflows.IncidentWorkflowID(tenant, id), "", workflows.QueryStatus, workflows.StatusInput{})
	if err != nil {
		f.t.Fatal(err)
	}
	var st workflows.StatusOutput
	if err := resp.Get(&st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

// closeAsAnalysts works an incident to its end through the API as adam (who may do everything): every
// action he may apply alone approved, except the time-boxed ones (they keep the incident open until
// released), the rest dismissed, then classified; it waits until the workflow has closed.
func (f *fixture) closeAsAnalysts(id string, classification, determination string) {
	f.t.Helper()
	base := "/v1/incidents/" + tenant + "/" + id
	for _, cv := range f.cards(id, adam).Cards {
		if cv.Category == card.CategoryTriage || cv.Status != card.StatusProposed {
			continue
		}
		decision := "reject"
		if cv.Available && cv.Action.Applicable() && cv.TimeBox == 0 && cv.ApprovalsRequired <= 1 {
			decision = "approve"
		}
		body := map[string]any{"cardIds": []string{cv.ID}, "decision": decision}
		if st := f.apiCall("POST", base+"/cards/decisions", adam, body, &map[string]any{}); st != http.StatusOK {
			f.t.Fatalf("decide %s on %s: %d", decision, cv.ID, st)
		}
	}
	body := map[string]any{"classification": classification, "determination": determination}
	if st := f.apiCall("POST", base+"/classification", adam, body, &map[string]any{}); st != http.StatusOK {
		f.t.Fatalf("classify %s: %d", id, st)
	}
	run := f.env.Client.GetWorkflow(context.Background(), workflows.IncidentWorkflowID(tenant, id), "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var res workflows.IncidentResult
	if err := run.Get(ctx, &res); err != nil {
		f.t.Fatalf("incident %s did not close: %v (%s)", id, err, fmt.Sprint(f.status(id).CardsByStatus))
	}
}
