package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/testenv"
	"github.com/guided-response/guided/workflows"
)

func runStarter(t *testing.T, env *testenv.Env, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	full := append([]string{args[0], "--temporal-address", env.Stack.Temporal.FrontendAddress()}, args[1:]...)
	err := run(context.Background(), full, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func countWorkflows(t *testing.T, env *testenv.Env, incidentID string) int {
	t.Helper()
	resp, err := env.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("%s = '%s'", workflows.SearchAttributeID.GetName(), incidentID),
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.Executions)
}

func TestStarter(t *testing.T) {
	env := testenv.Start(t)
	graph := "../incident/testdata/graph_incident_multi.json"
	list := "../incident/testdata/graph_list.json"
	native := "../incident/testdata/native_phishing.json"

	t.Run("bad input starts nothing", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		raw, err := os.ReadFile(native)
		if err != nil {
			t.Fatal(err)
		}
		// Break the native incident's severity, keep it otherwise whole.
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		doc["severity"] = "apocalyptic"
		raw, _ = json.Marshal(doc)
		if err := os.WriteFile(bad, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err = runStarter(t, env, "incident", graph, bad)
		if err == nil || !strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), "severity") {
			t.Fatalf("want an error naming the file and the field, got %v", err)
		}
		good, err := incident.ParseFile(graph)
		if err != nil {
			t.Fatal(err)
		}
		if n := countWorkflows(t, env, good[0].ID); n != 0 {
			t.Fatalf("a valid file beside a bad one was started: %d workflows", n)
		}
	})

	t.Run("starts one workflow per incident and prints links", func(t *testing.T) {
		out, _, err := runStarter(t, env, "incident", "--json", graph, list, native)
		if err != nil {
			t.Fatal(err)
		}
		var want []incident.Incident
		for _, f := range []string{graph, list, native} {
			incs, err := incident.ParseFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, incs...)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(want) {
			t.Fatalf("%d lines for %d incidents:\n%s", len(lines), len(want), out)
		}
		for i, line := range lines {
			var s started
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatal(err)
			}
			id := workflows.IncidentWorkflowID(want[i].TenantID, want[i].ID)
			if s.WorkflowID != id || s.Error != "" || !strings.HasPrefix(s.URL, "http://127.0.0.1:8233/namespaces/default/workflows/") {
				t.Errorf("line %d: %+v", i, s)
			}
		}
	})

	t.Run("a second trigger reaches the running workflow", func(t *testing.T) {
		incs, err := incident.ParseFile(native)
		if err != nil {
			t.Fatal(err)
		}
		inc := incs[0]
		var wg sync.WaitGroup
		runs := make([]string, 20)
		errs := make([]error, 20)
		for i := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := workflows.TriggerIncident(context.Background(), env.Client, workflows.TriggerOptions{}, &inc)
				runs[i], errs[i] = res.RunID, err
			}()
		}
		wg.Wait()
		for i := range runs {
			if errs[i] != nil || runs[i] != runs[0] {
				t.Fatalf("trigger %d: run %s, %v (first %s)", i, runs[i], errs[i], runs[0])
			}
		}
		if n := countWorkflows(t, env, inc.ID); n != 1 {
			t.Fatalf("%d workflows for one incident", n)
		}
	})

	t.Run("status by tenant/id and by id", func(t *testing.T) {
		incs, err := incident.ParseFile(graph)
		if err != nil {
			t.Fatal(err)
		}
		inc := incs[0]
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, _, err := runStarter(t, env, "status", "--json", inc.TenantID+"/"+inc.ID)
			var st workflows.StatusOutput
			if err == nil {
				if jerr := json.Unmarshal([]byte(out), &st); jerr != nil {
					t.Fatal(jerr)
				}
			}
			if err == nil && st.Persisted {
				if st.IncidentID != inc.ID || st.Alerts != len(inc.Alerts) {
					t.Fatalf("status %+v", st)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("never persisted: %v %s", err, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		deadline = time.Now().Add(30 * time.Second)
		for {
			// Visibility is eventually consistent: the bare id resolves once the search attribute is indexed.
			out, _, err := runStarter(t, env, "status", inc.ID)
			if err == nil {
				if !strings.Contains(out, inc.TenantID+"/"+inc.ID) || !strings.Contains(out, "phase open") {
					t.Fatalf("status text:\n%s", out)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status by id: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, _, err := runStarter(t, env, "status", "no-such-incident"); err == nil || !strings.Contains(err.Error(), "starter incident") {
			t.Fatalf("unknown incident: %v", err)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		if _, _, err := runStarter(t, env, "incident"); err == nil {
			t.Error("incident without files must fail")
		}
		if err := run(context.Background(), []string{"explode"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "unknown command") {
			t.Errorf("unknown command: %v", err)
		}
	})
}
