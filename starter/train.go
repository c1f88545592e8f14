package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.temporal.io/sdk/client"

	"github.com/guided-response/guided/workflows"
)

// runTrain runs `starter train`: a training run of the triage model now, on the workers, waited for.
func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opts options
	fs := flag.NewFlagSet("starter train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts.register(fs)
	seed := fs.Int64("seed", 42, "seed of the splits and sampling")
	minIncidents := fs.Int("min-incidents", 200, "the fewest graded historical incidents worth a model")
	wait := fs.Duration("wait", 2*time.Hour, "how long to wait for the training to finish")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "starter", Level: hclog.LevelFromString(opts.logLevel), Output: stderr})
	c, err := dial(ctx, &opts, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	id := workflows.TrainWorkflowID(time.Now())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: opts.taskQueue},
		workflows.TrainWorkflow, workflows.TrainInput{Seed: *seed, MinIncidents: *minIncidents})
	if err != nil {
		return fmt.Errorf("start training: %w", err)
	}
	fmt.Fprintf(stderr, "training: workflow %s (%s)\n", id, workflows.UIWorkflowURL(opts.uiURL, opts.temporal.Namespace, id))
	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	var out workflows.TrainOutput
	if err := run.Get(wctx, &out); err != nil {
		return fmt.Errorf("training %s: %w", id, err)
	}
	if opts.json {
		return json.NewEncoder(stdout).Encode(out)
	}
	if out.Skipped != "" {
		fmt.Fprintf(stdout, "no model trained: %s\n", out.Skipped)
		return nil
	}
	fmt.Fprintf(stdout, "trained %s on %d incidents (%d graded; by source %v) in %.1fs: held-out coverage %.2f at answered precision %.2f\n",
		out.Version, out.Incidents, out.Graded, out.BySource, out.Stats.Seconds, out.Stats.ValidCoverage, out.Stats.ValidAnswered)
	return nil
}
