// Package testenv runs the real stack for tests of other packages: the embedded Temporal server, a
// throwaway PostgreSQL with the migrations applied, and a worker with every workflow and activity
// registered, all on free ports under a temporary directory, stopped when the test ends.
package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/internal/devstack"
	"github.com/guided-response/guided/internal/temporalclient"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/workflows"
)

// Env is a running stack.
type Env struct {
	Stack     *devstack.Stack
	Client    client.Client
	Store     *store.Store
	TaskQueue string
	Logger    hclog.Logger
	// Activities are the worker's, with the dry-run connector and the built-in playbooks.
	Activities *activities.Activities
}

// Start starts the stack and a worker; everything stops at the end of the test.
func Start(t testing.TB) *Env {
	t.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: os.Stderr, IndependentLevels: true})
	temporalLogger := logger.Named("temporal")
	temporalLogger.SetLevel(hclog.Error)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// t.TempDir's parent is closed to other users; PostgreSQL runs as one when tests run as root.
	dataDir, err := os.MkdirTemp("", "guided-testenv-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dataDir) })
	stack, err := devstack.Start(ctx, devstack.Options{
		DataDir:        dataDir,
		UIPort:         -1,
		Logger:         logger,
		TemporalLogger: temporalLogger,
	})
	if err != nil {
		t.Fatalf("start the stack: %v", err)
	}
	t.Cleanup(func() {
		if err := stack.Stop(context.Background()); err != nil {
			t.Errorf("stop the stack: %v", err)
		}
	})
	c, err := temporalclient.Dial(ctx, temporalclient.Config{Address: stack.Temporal.FrontendAddress(), Namespace: "default"}, logger.Named("client"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	env := &Env{
		Stack:     stack,
		Client:    c,
		Store:     store.New(stack.DB, logger.Named("store")),
		TaskQueue: workflows.DefaultTaskQueue,
		Logger:    logger,
	}
	w := worker.New(c, env.TaskQueue, worker.Options{StickyScheduleToStartTimeout: time.Second})
	acts, err := activities.Build(activities.Config{Connectors: connector.Config{Mode: "dry-run"}, TriageThreshold: 0.7, HighRiskApprovals: 2}, stack.DB, logger)
	if err != nil {
		t.Fatal(err)
	}
	env.Activities = acts
	workflows.Register(w, acts)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return env
}
