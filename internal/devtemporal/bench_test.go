package devtemporal

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// BenchmarkWorkflowWithThreeActivities measures the end-to-end latency of a workflow that runs three
// activities in sequence on the embedded server, tuned (one task-queue partition) and with the stock four
// partitions, so the effect of the tuning is a figure:
//
//	go test ./internal/devtemporal -run '^$' -bench WorkflowWithThreeActivities -benchtime 30x
func BenchmarkWorkflowWithThreeActivities(b *testing.B) {
	for _, tc := range []struct {
		name      string
		overrides map[string]any
	}{
		{"tuned", nil},
		{"stock", map[string]any{
			"matching.numTaskqueueReadPartitions": 4, "matching.numTaskqueueWritePartitions": 4,
			"history.transferProcessorMaxPollRPS": 20, "history.timerProcessorMaxPollRPS": 20, "history.visibilityProcessorMaxPollRPS": 20,
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv, err := Start(Options{UIPort: -1, Logger: hclog.NewNullLogger(), DynamicConfig: tc.overrides})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Stop()
			c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Logger: nullSDKLogger{}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			w := worker.New(c, "bench", worker.Options{})
			w.RegisterWorkflow(echoWorkflow)
			w.RegisterActivity(echoActivity)
			if err := w.Start(); err != nil {
				b.Fatal(err)
			}
			defer w.Stop()
			ctx := context.Background()
			run := func(i int) {
				r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("bench-%s-%d", tc.name, i), TaskQueue: "bench"}, echoWorkflow, "x")
				if err != nil {
					b.Fatal(err)
				}
				var out string
				if err := r.Get(ctx, &out); err != nil {
					b.Fatal(err)
				}
			}
			run(-1) // warm up: the first poll and the workflow cache
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				run(i)
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/workflow")
		})
	}
}

type nullSDKLogger struct{}

func (nullSDKLogger) Debug(string, ...any) {}
func (nullSDKLogger) Info(string, ...any)  {}
func (nullSDKLogger) Warn(string, ...any)  {}
func (nullSDKLogger) Error(string, ...any) {}
