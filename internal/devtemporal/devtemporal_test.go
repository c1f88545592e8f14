package devtemporal

import (
	"context"
	"errors"
	"github.com/guided-response/guided/internal/syncbuf"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/log/tag"
)

func echoActivity(_ context.Context, s string) (string, error) { return s, nil }

func echoWorkflow(ctx workflow.Context, s string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for range 3 {
		if err := workflow.ExecuteActivity(ctx, echoActivity, s).Get(ctx, &s); err != nil {
			return "", err
		}
	}
	return s, nil
}

func startServer(t *testing.T, dbFile string) *Server {
	t.Helper()
	srv, err := Start(Options{
		DatabaseFile:     dbFile,
		UIPort:           0,
		Namespace:        "default",
		SearchAttributes: map[string]enumspb.IndexedValueType{"IncidentSeverity": enumspb.INDEXED_VALUE_TYPE_KEYWORD},
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Name: "temporal"}),
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return srv
}

func runEcho(t *testing.T, c client.Client, id string) {
	t.Helper()
	w := worker.New(c, "echo", worker.Options{})
	w.RegisterWorkflow(echoWorkflow)
	w.RegisterActivity(echoActivity)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "echo"}, echoWorkflow, "hi")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "hi" {
		t.Fatalf("workflow result %q, %v", out, err)
	}
}

// TestServerRunsWorkflowsAndSurvivesRestart starts the embedded server on a SQLite file, runs a workflow,
// restarts the server on the same file and finds the first workflow's history still there.
func TestServerRunsWorkflowsAndSurvivesRestart(t *testing.T) {
	dbFile := filepath.Join(t.TempDir(), "temporal.db")
	srv := startServer(t, dbFile)
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress()})
	if err != nil {
		t.Fatal(err)
	}
	runEcho(t, c, "first")
	if _, err := os.Stat(dbFile + "-wal"); err != nil {
		t.Errorf("the SQLite file is not in write-ahead-log mode: %v", err)
	}

	ctx := context.Background()
	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if sa.CustomAttributes["IncidentSeverity"] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
		t.Fatalf("search attribute not registered: %v", sa.CustomAttributes)
	}
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	srv = startServer(t, dbFile)
	defer srv.Stop()
	c, err = client.Dial(client.Options{HostPort: srv.FrontendAddress()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "first", "")
	if err != nil {
		t.Fatalf("workflow from before the restart is gone: %v", err)
	}
	if desc.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Fatalf("status %v", desc.WorkflowExecutionInfo.Status)
	}
	runEcho(t, c, "second")
}

// TestStartReportsATakenPort: a frontend port someone else holds is an error naming the address, not the
// panic the server's Fatal log raises; and the error says it was the port.
func TestStartReportsATakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	srv, err := Start(Options{FrontendPort: port, UIPort: -1})
	if err == nil {
		_ = srv.Stop()
		t.Fatalf("started on port %d, which is taken", port)
	}
	if !strings.Contains(err.Error(), "Temporal frontend's port "+strconv.Itoa(port)) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("error %q does not say port %d is in use", err, port)
	}
	srv, err = Start(Options{UIPort: port})
	if err == nil {
		_ = srv.Stop()
		t.Fatalf("UI started on port %d, which is taken", port)
	}
	if !strings.Contains(err.Error(), "Temporal Web UI's port "+strconv.Itoa(port)) {
		t.Fatalf("error %q does not say the UI's port %d is in use", err, port)
	}
	// A port taken between the check and the server's bind is the server's own error, recovered from its
	// Fatal (which panics): an error that says the address is in use, which Start retries with new ports.
	if srv, err := start(Options{FrontendPort: port, UIPort: -1, Namespace: "default", Logger: hclog.NewNullLogger()}); err == nil {
		_ = srv.Stop()
		t.Fatal("the server started on a taken port")
	} else if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("the server's own error %q: want it to wrap EADDRINUSE and name port %d", err, port)
	}
	f := newFatal("Failed to start gRPC listener", []tag.Tag{tag.Error(&net.OpError{Op: "listen", Net: "tcp", Err: syscall.EADDRINUSE}), tag.Address("127.0.0.1:7")})
	if !errors.Is(f, syscall.EADDRINUSE) || !strings.Contains(f.Error(), "127.0.0.1:7") {
		t.Fatalf("fatal %q: want it to wrap EADDRINUSE and name the address", f)
	}
	// The failed attempts leave the process able to start a server.
	srv = startServer(t, "")
	defer srv.Stop()
	if _, p, _ := net.SplitHostPort(srv.FrontendAddress()); p == strconv.Itoa(port) {
		t.Fatalf("second server on the taken port")
	}
}

// TestStopIsQuiet: stopping the server does not warn of every poll and dial the stop cuts short (a
// screenful on each Ctrl-C of `worker --dev`); the lines stay at debug level.
func TestStopIsQuiet(t *testing.T) {
	var logs syncBuffer
	srv, err := Start(Options{UIPort: -1, Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &logs})})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress()})
	if err != nil {
		t.Fatal(err)
	}
	runEcho(t, c, "quiet")
	c.Close()
	before := len(logs.String())
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the system workers' last polls end after Stop returns
	after := logs.String()[before:]
	for _, line := range strings.Split(after, "\n") {
		if strings.Contains(line, "[WARN]") {
			t.Errorf("warning while stopping: %s", line)
		}
	}
	if !strings.Contains(after, "[DEBUG]") {
		t.Errorf("nothing logged while stopping; the test proves nothing:\n%s", after)
	}
}

type syncBuffer = syncbuf.Buffer
