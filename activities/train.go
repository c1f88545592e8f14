package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/learn"
	"github.com/guided-response/guided/store"
)

// TrainTriageInput asks for a triage model of the given version (made in the workflow, so that a retry
// stores the same version once).
type TrainTriageInput struct {
	Version string `json:"version"`
	Seed    int64  `json:"seed"`
	// MinIncidents is the fewest graded incidents worth a model (default 200): below it the playbooks'
	// rules keep suggesting the triage.
	MinIncidents int `json:"minIncidents,omitempty"`
}

// TrainTriageOutput says what was trained, or why nothing was.
type TrainTriageOutput struct {
	Version   string              `json:"version,omitempty"`
	Skipped   string              `json:"skipped,omitempty"`
	Incidents int                 `json:"incidents"`
	Graded    int                 `json:"graded"`
	BySource  map[string]int      `json:"bySource"`
	Stats     learn.TrainingStats `json:"stats"`
}

// TrainTriage trains the triage model (with its similar-incident embedding and action model) on every
// historical incident: the GUIDE import and this system's closed incidents. It heartbeats while it loads
// and trains, and stores the model under in.Version.
func (a *Activities) TrainTriage(ctx context.Context, in TrainTriageInput) (TrainTriageOutput, error) {
	if in.Version == "" {
		return TrainTriageOutput{}, errors.New("train: the version is required")
	}
	if _, err := a.Store.GetModel(ctx, ModelKindTriage, in.Version); err == nil {
		return TrainTriageOutput{Version: in.Version, Skipped: "already trained (a retry)"}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return TrainTriageOutput{}, err
	}
	minIncidents := in.MinIncidents
	if minIncidents <= 0 {
		minIncidents = 200
	}
	out := TrainTriageOutput{BySource: map[string]int{}}
	var incs []guide.Incident
	err := a.Store.EachHistorical(ctx, "", func(h store.HistoricalIncident) error {
		incs = append(incs, h.Incident)
		out.BySource[h.Source]++
		if h.Incident.Grade.Valid() {
			out.Graded++
		}
		if len(incs)%50000 == 0 {
			activity.RecordHeartbeat(ctx, fmt.Sprintf("loaded %d incidents", len(incs)))
		}
		return nil
	})
	if err != nil {
		return TrainTriageOutput{}, err
	}
	out.Incidents = len(incs)
	if out.Graded < minIncidents {
		out.Skipped = fmt.Sprintf("%d graded incidents, fewer than %d: import the GUIDE dataset (starter import-guide) or close more incidents", out.Graded, minIncidents)
		a.Logger.Info("triage model not trained", "reason", out.Skipped)
		return out, nil
	}
	// Training takes minutes on a large history: heartbeat meanwhile, so a lost worker is noticed.
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, "training")
			}
		}
	}()
	model, err := learn.Train(learn.Pointers(incs), learn.TrainOptions{Seed: in.Seed, Log: a.Logger.Named("train").Info})
	if err != nil {
		return TrainTriageOutput{}, fmt.Errorf("train the triage model: %w", err)
	}
	var body bytes.Buffer
	if err := model.Save(&body); err != nil {
		return TrainTriageOutput{}, err
	}
	metrics, err := json.Marshal(map[string]any{"trained": model.Trained, "threshold": model.Threshold, "bySource": out.BySource})
	if err != nil {
		return TrainTriageOutput{}, err
	}
	err = a.Store.SaveModel(ctx, store.Model{Kind: ModelKindTriage, Version: in.Version, Metrics: metrics, Body: body.Bytes()})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return TrainTriageOutput{}, err
	}
	out.Version, out.Stats = in.Version, model.Trained
	a.Logger.Info("triage model trained", "version", in.Version, "incidents", out.Incidents, "graded", out.Graded,
		"seconds", model.Trained.Seconds, "bytes", body.Len())
	return out, nil
}
