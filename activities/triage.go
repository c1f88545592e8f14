package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/learn"
	"github.com/guided-response/guided/store"
)

// ModelKindTriage is the kind of the triage models in the store.
const ModelKindTriage = "triage"

// TriageModels loads trained triage models from the store and keeps them: a saved model never changes,
// so each version is read once. The latest version is looked up again at most once a minute.
type TriageModels struct {
	store     *store.Store
	mu        sync.Mutex
	byVersion map[string]*learn.Model // by the store's version (a model's own Version is its format)
	// unreadable remembers the versions this build cannot read (another format: trained by an older
	// or newer build), so that their bodies are not read again.
	unreadable map[string]error
	latest     string
	checked    time.Time
	// Recheck is how long the latest version is trusted (default a minute).
	Recheck time.Duration
}

// NewTriageModels reads models from st.
func NewTriageModels(st *store.Store) *TriageModels {
	return &TriageModels{store: st, byVersion: map[string]*learn.Model{}, unreadable: map[string]error{}, Recheck: time.Minute}
}

// ErrModelUnreadable is Get's error for a stored model this build cannot read: one trained by a build
// with another model format (after an upgrade, until the next training). Callers suggest the triage by
// the playbooks' rules meanwhile; other errors (the database) are worth a retry.
var ErrModelUnreadable = errors.New("the stored triage model is in a format this build does not read: train a new one (starter train, or wait for the schedule)")

// IsTrainedVersion reports whether version names a trained model (rather than the playbooks' rules).
func IsTrainedVersion(version string) bool { return strings.HasPrefix(version, learn.ModelVersion) }

// Get answers the model of version, or with version "" the latest; nil without an error when no model
// was trained yet (the playbooks' rules suggest the triage then). A version that is not a trained model's
// (the rules') answers nil too: a running workflow keeps what it started with.
func (m *TriageModels) Get(ctx context.Context, version string) (*learn.Model, string, error) {
	if version != "" && !IsTrainedVersion(version) {
		return nil, "", nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if version == "" {
		// The latest version alone, at most once per Recheck, "none yet" included; a body is read below,
		// once per version. (The newest model's body used to be read again every minute, and the table on
		// every call while no model was trained, under the lock every GenerateCards waits on.)
		if m.checked.IsZero() || time.Since(m.checked) > m.Recheck {
			latest, err := m.store.LatestModelVersion(ctx, ModelKindTriage)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, "", err
			}
			m.latest, m.checked = latest, time.Now()
		}
		if m.latest == "" {
			return nil, "", nil
		}
		version = m.latest
	}
	if model, ok := m.byVersion[version]; ok {
		return model, version, nil
	}
	if err, ok := m.unreadable[version]; ok {
		return nil, "", err
	}
	rec, err := m.store.GetModel(ctx, ModelKindTriage, version)
	if err != nil {
		return nil, "", fmt.Errorf("triage model %s: %w", version, err)
	}
	if err := m.load(rec); err != nil {
		return nil, "", err
	}
	return m.byVersion[version], version, nil
}

func (m *TriageModels) load(rec store.Model) error {
	model, err := learn.Load(bytes.NewReader(rec.Body))
	if err != nil {
		err = fmt.Errorf("triage model %s: %w (%w)", rec.Version, ErrModelUnreadable, err)
		m.unreadable[rec.Version] = err
		return err
	}
	m.byVersion[rec.Version] = model
	return nil
}

// modelTriage is the triage card from a trained model: the grade it predicts with its calibrated
// confidence, "unsure" below the threshold, and the features that drove it. The determination comes from
// the playbooks' rules when they agree on the classification (the model predicts the grade only).
func modelTriage(rules card.Card, model *learn.Model, version string, inc *incident.Incident, threshold float64) card.Card {
	agg := learn.FromIncident(inc)
	pred, reasons := model.Explain(&agg, 4)
	if threshold <= 0 {
		threshold = model.Threshold
	}
	_, sure := pred.Answer(threshold)
	out := rules
	s := card.TriageSuggestion{
		Classification: learn.ClassificationOf(pred.Grade),
		Confidence:     pred.Confidence,
		Unsure:         !sure,
		ModelVersion:   version,
	}
	if rules.Triage != nil && rules.Triage.Classification == s.Classification {
		s.Determination = rules.Triage.Determination
	}
	s.Why = append(s.Why, "Probabilities: "+gradeShares(pred)+".")
	for _, r := range reasons {
		s.Why = append(s.Why, r.Text)
	}
	s.Why = append(s.Why, fmt.Sprintf("Gradient-boosted trees trained on %d past incidents; threshold %.2f (answered precision %.2f on held-out incidents).",
		model.Trained.Incidents, threshold, model.Trained.ValidAnswered))
	out.Triage = &s
	out.Confidence = pred.Confidence
	return out
}

// gradeShares is a prediction's probabilities by grade, for the card's reasons.
func gradeShares(p learn.Prediction) string {
	var parts []string
	for i, g := range guide.Grades {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", g, 100*p.Probabilities[i]))
	}
	return strings.Join(parts, ", ")
}
