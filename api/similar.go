package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/learn"
	"github.com/guided-response/guided/similar"
	"github.com/guided-response/guided/store"
)

// How a tenant's index follows its history. The first request for a tenant waits for its index; after
// that requests never wait: the newly closed (or regraded) incidents are added in the background at most
// every similarRefresh, the lists are re-learnt in the background when the index has outgrown them
// (similar.Stats.BuildDue), and a new model's index is built in the background while the old one, with
// the old model's embedding, goes on answering.
const (
	similarRefresh = 30 * time.Second
	// similarOverlap is how far before the newest change seen a refresh asks again: a transaction that
	// commits late carries an earlier imported_at.
	similarOverlap = time.Minute
	// similarBuildTimeout bounds a background build or refresh.
	similarBuildTimeout = 10 * time.Minute
)

// similarIndexes answer "View similar incidents" from the trained model's incident embedding: per tenant,
// the tenant's closed incidents in a nearest-neighbour index (IVF, package similar). Without a trained
// model the shared-entities baseline answers.
type similarIndexes struct {
	store  *store.Store
	models *activities.TriageModels
	logger hclog.Logger
	now    func() time.Time
	// refresh is similarRefresh (tests shorten it).
	refresh time.Duration

	mu     sync.Mutex
	tenant map[string]*tenantSlot
}

// tenantSlot is a tenant's index and the background work on it.
type tenantSlot struct {
	ready    chan struct{} // closed when the first build has finished (ok or not)
	building bool          // a background build or refresh runs
	cur      *tenantIndex  // nil until the first build succeeded
	err      error         // the first build's error, until one succeeds
	checked  time.Time     // when changes were last asked for
}

// tenantIndex is one model's index of a tenant's closed incidents: search it with the same model's
// embedding.
type tenantIndex struct {
	model   *learn.Model
	version string
	index   *similar.Index

	mu      sync.RWMutex
	entries []similarEntry    // by index ID
	current map[string]uint64 // incident ID -> the index ID of its latest version
	seen    time.Time         // the newest imported_at read
}

// similarEntry is what an answer says of an indexed incident: not its whole aggregate (a tenant may have
// a million).
type similarEntry struct {
	incidentID string
	imported   time.Time
	grade      guide.Grade
	actions    []string
}

func newSimilarIndexes(st *store.Store, logger hclog.Logger) *similarIndexes {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &similarIndexes{store: st, models: activities.NewTriageModels(st), logger: logger, now: time.Now,
		refresh: similarRefresh, tenant: map[string]*tenantSlot{}}
}

// method names how the answer was found.
func embeddingMethod(version string) string {
	return fmt.Sprintf("nearest neighbours in the triage model's incident embedding (%s, cosine similarity)", version)
}

// find answers the k closed incidents of the tenant nearest to the incident, or ok false when there is no
// trained model (the caller falls back to the baseline).
func (x *similarIndexes) find(ctx context.Context, tenantID, incidentID string, k int) (items []store.SimilarIncident, method string, ok bool, err error) {
	ti, err := x.index(ctx, tenantID)
	if err != nil || ti == nil {
		return nil, "", false, err
	}
	inc, err := x.store.GetIncident(ctx, tenantID, incidentID)
	if errors.Is(err, store.ErrNotFound) {
		return []store.SimilarIncident{}, embeddingMethod(ti.version), true, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	agg := learn.FromIncident(inc)
	hits, err := ti.search(&agg, incidentID, k)
	if err != nil {
		return nil, "", false, err
	}
	ids := make([]string, len(hits))
	items = make([]store.SimilarIncident, len(hits))
	for i, h := range hits {
		ids[i] = h.incidentID
		items[i] = store.SimilarIncident{IncidentID: h.incidentID, Score: h.score,
			Classification: string(learn.ClassificationOf(h.grade)), AppliedActions: slices.Clone(h.actions)}
		if o, err := x.store.GetOutcome(ctx, tenantID, h.incidentID); err == nil {
			items[i].Classification, items[i].Determination = string(o.Classification), string(o.Determination)
		}
	}
	heads, err := x.store.Headlines(ctx, tenantID, ids)
	if err != nil {
		return nil, "", false, err
	}
	for i := range items {
		items[i].Title = heads[items[i].IncidentID].Title
	}
	return items, embeddingMethod(ti.version), true, nil
}

// similarHit is an indexed incident near a query.
type similarHit struct {
	similarEntry
	score float64
}

// search answers the k indexed incidents nearest to inc, never the incident self, and only the latest
// version of each (a regraded incident is indexed again; its older vector is skipped).
func (ti *tenantIndex) search(inc *guide.Incident, self string, k int) ([]similarHit, error) {
	if ti.index.Len() == 0 {
		return []similarHit{}, nil
	}
	ti.mu.RLock()
	extra := ti.index.Len() - len(ti.current) // superseded vectors, which may come first
	ti.mu.RUnlock()
	found, err := ti.index.Search(ti.model.Embedder.Embed(inc, nil), k+1+min(extra, k))
	if err != nil {
		return nil, err
	}
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	out := []similarHit{}
	for _, h := range found {
		e := ti.entries[h.ID]
		if e.incidentID == self || ti.current[e.incidentID] != h.ID || len(out) == k {
			continue
		}
		out = append(out, similarHit{e, float64(h.Score)})
	}
	return out, nil
}

// index answers the tenant's index for the latest model, or nil without a model. Only a tenant's first
// request waits (for the first build); later ones get the index at hand and start, in the background, the
// work that is due: a build for a new model, or adding the incidents closed since the last look.
func (x *similarIndexes) index(ctx context.Context, tenantID string) (*tenantIndex, error) {
	model, version, err := x.models.Get(ctx, "")
	if errors.Is(err, activities.ErrModelUnreadable) {
		return nil, nil // the shared-entities baseline answers until a model this build reads is trained
	}
	if err != nil || model == nil || model.Embedder == nil {
		return nil, err
	}
	x.mu.Lock()
	slot := x.tenant[tenantID]
	if slot == nil || (slot.cur == nil && slot.err != nil && !slot.building) {
		// First request, or the first build failed: build now; this request (and any meanwhile) waits.
		slot = &tenantSlot{ready: make(chan struct{}), building: true, checked: x.now()}
		x.tenant[tenantID] = slot
		x.mu.Unlock()
		go x.background(tenantID, slot, func(ctx context.Context) error {
			ti, err := x.build(ctx, tenantID, version, model)
			x.mu.Lock()
			defer x.mu.Unlock()
			slot.cur, slot.err = ti, err
			return err
		})
	} else {
		cur := slot.cur
		switch {
		case slot.building || cur == nil:
		case cur.version != version:
			slot.building = true
			go x.background(tenantID, slot, func(ctx context.Context) error {
				ti, err := x.build(ctx, tenantID, version, model)
				if err == nil {
					x.mu.Lock()
					slot.cur = ti
					x.mu.Unlock()
				}
				return err
			})
		case x.now().Sub(slot.checked) >= x.refresh:
			slot.building, slot.checked = true, x.now()
			go x.background(tenantID, slot, func(ctx context.Context) error { return x.follow(ctx, tenantID, cur) })
		}
		x.mu.Unlock()
	}
	select {
	case <-slot.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return slot.cur, slot.err
}

// background runs work on the slot, detached from the request that started it, then marks the slot idle
// (and ready, after the first build).
func (x *similarIndexes) background(tenantID string, slot *tenantSlot, work func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), similarBuildTimeout)
	defer cancel()
	err := work(ctx)
	if err != nil {
		x.logger.Warn("similar-incident index", "tenant", tenantID, "error", err)
	}
	x.mu.Lock()
	slot.building = false
	x.mu.Unlock()
	select {
	case <-slot.ready:
	default:
		close(slot.ready)
	}
}

// build indexes the tenant's closed incidents with the model's embedding.
func (x *similarIndexes) build(ctx context.Context, tenantID, version string, model *learn.Model) (*tenantIndex, error) {
	ti := &tenantIndex{model: model, version: version, index: similar.New(model.Embedder.Dim, similar.Options{Seed: 1}),
		current: map[string]uint64{}}
	if err := x.store.EachHistoricalOf(ctx, store.SourceGuided, tenantID, ti.add); err != nil {
		return nil, err
	}
	if err := ti.index.Build(); err != nil {
		return nil, err
	}
	x.logger.Debug("similar-incident index built", "tenant", tenantID, "model", version, "incidents", ti.count())
	return ti, nil
}

// follow adds the tenant's incidents closed or regraded since the index last looked, and re-learns its
// lists when it has outgrown them.
func (x *similarIndexes) follow(ctx context.Context, tenantID string, ti *tenantIndex) error {
	ti.mu.RLock()
	since := ti.seen.Add(-similarOverlap)
	ti.mu.RUnlock()
	if err := x.store.EachHistoricalChanged(ctx, store.SourceGuided, tenantID, since, ti.add); err != nil {
		return err
	}
	if ti.index.Stats().BuildDue() {
		return ti.index.Build()
	}
	return nil
}

// count is the number of incidents indexed (their latest versions).
func (ti *tenantIndex) count() int {
	ti.mu.RLock()
	defer ti.mu.RUnlock()
	return len(ti.current)
}

// add indexes one historical incident, unless the index holds it at this version already; a newer
// version of an indexed incident supersedes the older one.
func (ti *tenantIndex) add(h store.HistoricalIncident) error {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if id, ok := ti.current[h.IncidentID]; ok && !ti.entries[id].imported.Before(h.ImportedAt) {
		return nil
	}
	id := uint64(len(ti.entries))
	if err := ti.index.Add(id, ti.model.Embedder.Embed(&h.Incident, nil)); err != nil {
		if errors.Is(err, similar.ErrZeroVector) {
			return nil // nothing to compare it by
		}
		return fmt.Errorf("index incident %s: %w", h.IncidentID, err)
	}
	ti.entries = append(ti.entries, similarEntry{incidentID: h.IncidentID, imported: h.ImportedAt,
		grade: h.Incident.Grade, actions: slices.Clone(h.Incident.Actions)})
	ti.current[h.IncidentID] = id
	if h.ImportedAt.After(ti.seen) {
		ti.seen = h.ImportedAt
	}
	return nil
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
