package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/learn"
	"github.com/guided-response/guided/similar"
	"github.com/guided-response/guided/store"
)

// similarRebuild is how long a tenant's index of past incidents is used before it is built again (new
// closed incidents and a new model arrive in between).
const similarRebuild = 5 * time.Minute

// similarIndexes answer "View similar incidents" from the trained model's incident embedding: per tenant,
// the tenant's closed incidents in a nearest-neighbour index (IVF, package similar), built when first
// asked and again every similarRebuild or when a new model appears. Without a trained model the shared-
// entities baseline answers.
type similarIndexes struct {
	store  *store.Store
	models *activities.TriageModels
	mu     sync.Mutex
	tenant map[string]*tenantIndex
}

type tenantIndex struct {
	version string
	built   time.Time
	index   *similar.Index
	// ids maps the index's IDs to the incidents, with their grade and applied actions.
	ids  []store.HistoricalIncident
	once sync.Once
	err  error
}

func newSimilarIndexes(st *store.Store) *similarIndexes {
	return &similarIndexes{store: st, models: activities.NewTriageModels(st), tenant: map[string]*tenantIndex{}}
}

// method names how the answer was found.
func embeddingMethod(version string) string {
	return fmt.Sprintf("nearest neighbours in the triage model's incident embedding (%s, cosine similarity)", version)
}

// find answers the k closed incidents of the tenant nearest to the incident, or ok false when there is no
// trained model (the caller falls back to the baseline).
func (x *similarIndexes) find(ctx context.Context, tenantID, incidentID string, k int) (items []store.SimilarIncident, method string, ok bool, err error) {
	model, version, err := x.models.Get(ctx, "")
	if err != nil || model == nil || model.Embedder == nil {
		return nil, "", false, err
	}
	ti, err := x.index(ctx, tenantID, version, model)
	if err != nil {
		return nil, "", false, err
	}
	inc, err := x.store.GetIncident(ctx, tenantID, incidentID)
	if errors.Is(err, store.ErrNotFound) {
		return []store.SimilarIncident{}, embeddingMethod(version), true, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	if len(ti.ids) == 0 {
		return []store.SimilarIncident{}, embeddingMethod(version), true, nil
	}
	agg := learn.FromIncident(inc)
	hits, err := ti.index.Search(model.Embedder.Embed(&agg, nil), k+1)
	if err != nil {
		return nil, "", false, err
	}
	var ids []string
	for _, h := range hits {
		hi := ti.ids[h.ID]
		if hi.IncidentID == incidentID || len(ids) == k {
			continue
		}
		ids = append(ids, hi.IncidentID)
		si := store.SimilarIncident{IncidentID: hi.IncidentID, Score: float64(h.Score),
			Classification: string(learn.ClassificationOf(hi.Incident.Grade)), AppliedActions: slices.Clone(hi.Incident.Actions)}
		if o, err := x.store.GetOutcome(ctx, tenantID, hi.IncidentID); err == nil {
			si.Classification, si.Determination = string(o.Classification), string(o.Determination)
		}
		items = append(items, si)
	}
	heads, err := x.store.Headlines(ctx, tenantID, ids)
	if err != nil {
		return nil, "", false, err
	}
	for i := range items {
		items[i].Title = heads[items[i].IncidentID].Title
	}
	if items == nil {
		items = []store.SimilarIncident{}
	}
	return items, embeddingMethod(version), true, nil
}

// index answers the tenant's index for the model version, building it when missing or stale. One build
// per tenant at a time; other callers wait for it.
func (x *similarIndexes) index(ctx context.Context, tenantID, version string, model *learn.Model) (*tenantIndex, error) {
	x.mu.Lock()
	ti := x.tenant[tenantID]
	if ti == nil || ti.version != version || time.Since(ti.built) > similarRebuild || ti.err != nil {
		ti = &tenantIndex{version: version, built: time.Now()}
		x.tenant[tenantID] = ti
	}
	x.mu.Unlock()
	ti.once.Do(func() {
		ix := similar.New(model.Embedder.Dim, similar.Options{Seed: 1})
		ti.err = x.store.EachHistoricalOf(ctx, store.SourceGuided, tenantID, func(h store.HistoricalIncident) error {
			if err := ix.Add(uint64(len(ti.ids)), model.Embedder.Embed(&h.Incident, nil)); err != nil {
				return fmt.Errorf("index incident %s: %w", h.IncidentID, err)
			}
			ti.ids = append(ti.ids, h)
			return nil
		})
		if ti.err == nil && len(ti.ids) > 0 {
			ti.err = ix.Build()
		}
		ti.index = ix
	})
	return ti, ti.err
}

// similarIncidents answers the k incidents most like the given one and how they were found: by the
// trained model's embedding when there is a model, else by shared entities.
func (s *Server) similarIncidents(ctx context.Context, tenantID, incidentID string, k int) ([]store.SimilarIncident, string, error) {
	items, method, ok, err := s.similar.find(ctx, tenantID, incidentID, k)
	if err != nil {
		s.cfg.Logger.Warn("similar incidents by embedding; using shared entities", "error", err)
	}
	if ok && err == nil {
		return items, method, nil
	}
	items, err = s.cfg.Store.SimilarIncidents(ctx, tenantID, incidentID, k)
	return items, baselineMethod, err
}

// baselineMethod names the shared-entities baseline.
const baselineMethod = "shared entities (Jaccard similarity of entity sets)"
