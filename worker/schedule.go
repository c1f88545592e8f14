package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/guided-response/guided/workflows"
)

// ensureTrainSchedule creates the Temporal Schedule that retrains the triage model every `every`, or
// moves an existing one to that interval; every worker calls it at start, so the first one creates it.
// Runs never overlap: one that would start while another trains is skipped.
func ensureTrainSchedule(ctx context.Context, c client.Client, taskQueue string, every time.Duration, logger hclog.Logger) error {
	if every <= 0 {
		return nil
	}
	if every < time.Minute {
		return fmt.Errorf("--retrain-every %s: retrain at most once a minute", every)
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   workflows.TrainScheduleID,
		Spec: spec,
		Action: &client.ScheduleWorkflowAction{
			ID: "train/triage/scheduled", Workflow: workflows.TrainWorkflow, TaskQueue: taskQueue,
			Args: []any{workflows.TrainInput{Seed: 42}},
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Memo:    map[string]any{"what": "retrains the guided response's triage model"},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		h := c.ScheduleClient().GetHandle(ctx, workflows.TrainScheduleID)
		err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			in.Description.Schedule.Spec = &spec
			return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
		}})
	}
	if err != nil {
		return fmt.Errorf("the retraining schedule %s: %w", workflows.TrainScheduleID, err)
	}
	logger.Info("retraining schedule", "id", workflows.TrainScheduleID, "every", every)
	return nil
}
