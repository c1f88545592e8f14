package main

import (
	"context"
	"fmt"
	"github.com/guided-response/guided/internal/syncbuf"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	"go.temporal.io/sdk/client"

	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/temporalclient"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/workflows"
)

type syncBuffer = syncbuf.Buffer

// devRun is one `worker --dev` running inside the test.
type devRun struct {
	cancel   context.CancelFunc
	done     chan error
	stdout   *syncBuffer
	frontend string
	ui       string
	database string
	api      string
}

var bannerLine = regexp.MustCompile(`(?m)^\s+(Temporal frontend|Temporal Web UI|PostgreSQL|HTTP API)\s+(\S+)`)

// startDev runs the worker's real main path with --dev on dataDir and waits for its banner.
func startDev(t *testing.T, dataDir string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devRun{cancel: cancel, done: make(chan error, 1), stdout: &syncBuffer{}}
	stderr := &syncBuffer{}
	go func() {
		d.done <- run(ctx, []string{"--dev", "--data-dir", dataDir,
			"--dev-temporal-port", "0", "--dev-ui-port", "0", "--dev-postgres-port", "0", "--api-addr", "127.0.0.1:0", "--log-level", "warn"}, d.stdout, stderr)
	}()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case err := <-d.done:
			t.Fatalf("worker --dev exited early: %v\nstdout:\n%s\nstderr:\n%s", err, d.stdout, stderr)
		case <-deadline:
			cancel()
			t.Fatalf("worker --dev printed no banner in 2 minutes\nstderr:\n%s", stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if !strings.Contains(d.stdout.String(), "Stop with Ctrl-C") {
			continue
		}
		for _, m := range bannerLine.FindAllStringSubmatch(d.stdout.String(), -1) {
			switch m[1] {
			case "Temporal frontend":
				d.frontend = m[2]
			case "Temporal Web UI":
				d.ui = m[2]
			case "PostgreSQL":
				d.database = m[2]
			case "HTTP API":
				d.api = m[2]
			}
		}
		return d
	}
}

// stop cancels the run like Ctrl-C does and waits for it to finish cleanly.
func (d *devRun) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("worker --dev stopped with an error: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("worker --dev did not stop within a minute")
	}
	if !strings.Contains(d.stdout.String(), "Guided Response stopped.") {
		t.Errorf("no goodbye after stop:\n%s", d.stdout)
	}
}

// TestDevStackEndToEnd runs `worker --dev`, ingests a multi-alert Graph incident through its workflow,
// finds it persisted and queryable, stops everything like Ctrl-C, starts again on the same data directory
// and finds the incident's workflow and rows still there.
func TestDevStackEndToEnd(t *testing.T) {
	dataDir := openTempDir(t)
	dev := startDev(t, dataDir)
	if dev.frontend == "" || dev.ui == "" || !strings.Contains(dev.database, "xxxxx") {
		t.Fatalf("banner lacks an address or shows the database password:\n%s", dev.stdout)
	}

	// The API answers.
	if resp, err := http.Get(dev.api + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("api %s readyz: %v %v", dev.api, resp, err)
	} else {
		resp.Body.Close()
	}

	// The Web UI serves its app.
	resp, err := http.Get(dev.ui + "/")
	if err != nil {
		t.Fatalf("temporal ui: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("temporal ui answered %s", resp.Status)
	}

	incidents, err := incident.ParseFile("../incident/testdata/graph_incident_multi.json")
	if err != nil {
		t.Fatal(err)
	}
	inc := &incidents[0]
	kinds := map[incident.EntityKind]bool{}
	for _, e := range inc.Entities() {
		kinds[e.Kind] = true
	}
	for _, k := range []incident.EntityKind{incident.KindDevice, incident.KindUser, incident.KindMailbox, incident.KindAnalyzedMessage,
		incident.KindFile, incident.KindProcess, incident.KindIP, incident.KindURL} {
		if !kinds[k] {
			t.Fatalf("test incident lacks %s evidence", k)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := dial(t, dev.frontend)
	res, err := workflows.TriggerIncident(ctx, c, workflows.TriggerOptions{}, inc)
	if err != nil {
		t.Fatal(err)
	}
	if res.WorkflowID != workflows.IncidentWorkflowID(inc.TenantID, inc.ID) {
		t.Fatalf("workflow id %s", res.WorkflowID)
	}
	st := waitPersisted(t, ctx, c, res.WorkflowID)
	if st.Alerts != len(inc.Alerts) || st.Entities != len(inc.Entities()) || st.Severity != inc.Severity {
		t.Errorf("status %+v does not describe the incident", st)
	}

	// Persisted and queryable in Postgres: the dev stack's own database, through the store.
	db := openDevDB(t, dataDir, dev.database)
	got, err := store.New(db, hclog.NewNullLogger()).GetIncident(ctx, inc.TenantID, inc.ID)
	if err != nil {
		t.Fatalf("incident not in postgres: %v", err)
	}
	if got.Title != inc.Title || len(got.Alerts) != len(inc.Alerts) {
		t.Errorf("stored incident differs: %q with %d alerts", got.Title, len(got.Alerts))
	}
	var rows int
	if err := db.GetContext(ctx, &rows, `SELECT count(*) FROM entities WHERE tenant_id = $1 AND incident_id = $2`, inc.TenantID, inc.ID); err != nil {
		t.Fatal(err)
	}
	evidence := 0
	for _, al := range inc.Alerts {
		evidence += len(al.Entities)
	}
	if rows != evidence {
		t.Errorf("%d entity rows, want %d", rows, evidence)
	}

	// A second trigger reaches the same workflow and duplicates nothing.
	again, err := workflows.TriggerIncident(ctx, c, workflows.TriggerOptions{}, inc)
	if err != nil || again.RunID != res.RunID {
		t.Fatalf("second trigger: %+v, %v (first run %s)", again, err, res.RunID)
	}
	var incidentsRows int
	if err := db.GetContext(ctx, &incidentsRows, `SELECT count(*) FROM incidents WHERE tenant_id = $1 AND incident_id = $2`, inc.TenantID, inc.ID); err != nil || incidentsRows != 1 {
		t.Errorf("incident rows %d, %v", incidentsRows, err)
	}
	db.Close()
	c.Close()
	dev.stop(t)

	// Nothing left running: the ports are free again.
	if conn, err := http.Get(dev.ui + "/"); err == nil {
		conn.Body.Close()
		t.Errorf("temporal ui still answers after stop")
	}

	// Picks up where it left off.
	dev2 := startDev(t, dataDir)
	defer dev2.stop(t)
	c2 := dial(t, dev2.frontend)
	defer c2.Close()
	st2 := waitPersisted(t, ctx, c2, res.WorkflowID)
	if st2.IncidentID != inc.ID || st2.IngestCount != st.IngestCount {
		t.Errorf("after restart: %+v, before: %+v", st2, st)
	}
	desc, err := c2.DescribeWorkflowExecution(ctx, res.WorkflowID, "")
	if err != nil || desc.WorkflowExecutionInfo.Execution.RunId != res.RunID {
		t.Fatalf("workflow after restart: %v", err)
	}
}

// openTempDir is a temporary directory the unprivileged user that runs PostgreSQL (when tests run as root)
// can traverse: t.TempDir's parent is closed to other users.
func openTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "guided-dev-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func dial(t *testing.T, frontend string) client.Client {
	t.Helper()
	c, err := temporalclient.Dial(context.Background(), temporalclient.Config{Address: frontend, Namespace: "default"}, hclog.NewNullLogger(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitPersisted(t *testing.T, ctx context.Context, c client.Client, workflowID string) workflows.StatusOutput {
	t.Helper()
	var last error
	for ctx.Err() == nil {
		resp, err := c.QueryWorkflow(ctx, workflowID, "", workflows.QueryStatus, workflows.StatusInput{})
		if err == nil {
			var st workflows.StatusOutput
			if err := resp.Get(&st); err != nil {
				t.Fatal(err)
			}
			if st.Persisted && st.Phase == workflows.PhaseOpen {
				return st
			}
			last = fmt.Errorf("status %+v", st)
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("incident workflow %s never reported persisted: %v", workflowID, last)
	return workflows.StatusOutput{}
}

// openDevDB connects to the dev stack's Postgres: the banner's URL with the password the stack keeps
// beside the cluster.
func openDevDB(t *testing.T, dataDir, redactedURL string) *sqlx.DB {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(dataDir, "postgres.password"))
	if err != nil {
		t.Fatalf("the dev stack keeps its postgres password in postgres.password: %v", err)
	}
	u, err := url.Parse(redactedURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), strings.TrimSpace(string(pw)))
	db, err := sqlx.Connect("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestDevStopsOnABadPlaybook: a playbook directory that does not load ends `worker --dev` with the reason,
// before the banner says it runs, and the dev stack is stopped. It used to hang after the banner with the
// error unsaid: the API's listener waited for a context nothing cancelled.
func TestDevStopsOnABadPlaybook(t *testing.T) {
	dir := t.TempDir()
	playbooks := filepath.Join(dir, "playbooks")
	if err := os.MkdirAll(playbooks, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(playbooks, "broken.yaml"), []byte("not: [valid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--dev", "--data-dir", filepath.Join(dir, "data"), "--playbooks", playbooks,
			"--dev-temporal-port", "0", "--dev-ui-port", "0", "--dev-postgres-port", "0", "--api-addr", "127.0.0.1:0",
			"--metrics-addr", "127.0.0.1:0", "--log-level", "error"}, stdout, stderr)
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "broken.yaml:1") {
			t.Fatalf("worker --dev with a broken playbook: %v, want the file and line", err)
		}
	case <-time.After(3 * time.Minute): // a guard against the hang, not a speed target
		cancel()
		t.Fatalf("worker --dev hung on a broken playbook\nstdout:\n%s", stdout)
	}
	if strings.Contains(stdout.String(), "Stop with Ctrl-C") {
		t.Errorf("the banner said it runs:\n%s", stdout)
	}
	if !strings.Contains(stdout.String(), "Guided Response stopped.") {
		t.Errorf("the dev stack was not stopped:\n%s", stdout)
	}
}

// TestDevSaysWhichPortIsTaken: a dev-stack port that something else holds ends the start with which one
// and the flags that move it.
func TestDevSaysWhichPortIsTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	var stdout, stderr syncBuffer
	err = run(context.Background(), []string{"--dev", "--data-dir", t.TempDir(), "--dev-temporal-port", port, "--dev-ui-port", "0",
		"--dev-postgres-port", "0", "--api-addr", "127.0.0.1:0", "--log-level", "error"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "Temporal frontend's port "+port) || !strings.Contains(err.Error(), "--dev-temporal-port "+port) {
		t.Fatalf("worker --dev on a taken port: %v", err)
	}
}
