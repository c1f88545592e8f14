// Package workflows holds the incident workflow: one workflow per incident, from ingest to close.
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

// defaultMaxUpdates bounds how many re-ingests one run takes before it continues as new.
const defaultMaxUpdates = 500

// changeCloseAwaitsSideEffects versions the close that waits for the side effects started by handlers
// that ran while the incident closed (workflow.GetVersion).
const changeCloseAwaitsSideEffects = "close-awaits-side-effects"

// changeQuietTimers versions timers that are cancelled when they stop mattering: the scheduler's when
// the next deadline moves, and the access refresh's period is kept across refresh signals. Before it,
// every state change and every refresh signal left a timer pending until it fired (see runScheduler).
const changeQuietTimers = "quiet-timers"

// changeRefuseWhenClosing versions the refusal of decisions (classify, decide, extend, undo) while the
// incident closes: before it they were accepted after the report was built and were missing from it.
const changeRefuseWhenClosing = "refuse-when-closing"

// a is the typed nil pointer workflows name activities through; the worker registers the real struct.
var a *activities.Activities

// IncidentWorkflow runs the guided response of one incident: it persists the incident, summarizes it,
// generates the cards, waits for the analysts' decisions, applies approved actions, keeps the incident
// current as re-ingests arrive, and closes with a report once the incident is classified and every card
// is settled.
func IncidentWorkflow(ctx workflow.Context, in IncidentInput) (IncidentResult, error) {
	s, err := newIncidentState(ctx, in)
	if err != nil {
		return IncidentResult{}, err
	}
	return s.run(ctx)
}

// incidentState is the whole state of one run; handlers only touch it through its methods.
type incidentState struct {
	input           IncidentInput
	workflowID      string
	current         incident.Incident
	phase           Phase
	persisted       bool
	ingestCount     int
	updatesThisRun  int
	rejectedUpdates int
	updates         workflow.ReceiveChannel

	// g is the guided response's state, carried across continue-as-new.
	g GuidedState
	// ctx is the workflow's root context, for coroutines started by handlers.
	ctx workflow.Context
	// version changes whenever the state does; the main loop and the scheduler wait on it.
	version int
	// inflight counts running coroutines with side effects (actions, audit writes, re-ingests).
	inflight int
	// closing refuses decisions but feedback: the incident is being closed (see changeRefuseWhenClosing).
	closing  bool
	undoing  map[string]bool
	auditSeq int
	// published remembers the search attributes last written, to write only changes.
	published map[string]string
	report    *ReportOutput
}

// newIncidentState validates the input and registers handlers before anything blocks.
func newIncidentState(ctx workflow.Context, in IncidentInput) (*incidentState, error) {
	if err := in.Incident.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("the incident is invalid: "+err.Error(), activities.ErrTypeInvalidIncident, err)
	}
	if in.MaxUpdatesBeforeContinueAsNew <= 0 {
		in.MaxUpdatesBeforeContinueAsNew = defaultMaxUpdates
	}
	s := &incidentState{
		input:       in,
		workflowID:  workflow.GetInfo(ctx).WorkflowExecution.ID,
		current:     in.Incident,
		phase:       PhaseIngesting,
		ingestCount: in.IngestCount,
		updates:     workflow.GetSignalChannel(ctx, SignalIncidentUpdated),
		undoing:     map[string]bool{},
		published:   map[string]string{},
	}
	if in.Guided != nil {
		s.g = *in.Guided
		s.persisted = true
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func(StatusInput) (StatusOutput, error) {
		return s.status(), nil
	}); err != nil {
		return nil, fmt.Errorf("register %s query: %w", QueryStatus, err)
	}
	if err := workflow.SetQueryHandler(ctx, QueryReport, func(ReportInput) (ReportOutput, error) {
		if s.report == nil {
			return ReportOutput{}, nil
		}
		return *s.report, nil
	}); err != nil {
		return nil, fmt.Errorf("register %s query: %w", QueryReport, err)
	}
	if err := s.registerGuidedHandlers(ctx); err != nil {
		return nil, fmt.Errorf("register handlers: %w", err)
	}
	return s, nil
}

func (s *incidentState) run(ctx workflow.Context) (IncidentResult, error) {
	s.ctx = ctx
	if !s.persisted {
		if err := s.ingest(ctx, s.current); err != nil {
			return IncidentResult{}, err
		}
	}
	s.phase = PhaseOpen
	s.publish(ctx)
	if err := s.prepare(ctx); err != nil {
		return IncidentResult{}, err
	}
	s.applySourceResolution(ctx)
	quietTimers := workflow.GetVersion(ctx, changeQuietTimers, workflow.DefaultVersion, 1) >= 1
	s.startSignalLoops(ctx, quietTimers)
	if quietTimers {
		workflow.Go(ctx, s.runQuietScheduler)
	} else {
		workflow.Go(ctx, s.runScheduler)
	}
	workflow.Go(ctx, s.runIngestLoop)

	for {
		seen := s.version
		s.publish(ctx)
		if s.closable() && s.quiet(ctx) {
			break
		}
		if s.shouldContinueAsNew(ctx) && s.inflight == 0 && s.quiet(ctx) {
			return IncidentResult{}, s.continueAsNew(ctx)
		}
		_ = workflow.Await(ctx, func() bool { return s.version != seen })
	}
	return s.close(ctx)
}

// quiet reports whether no message waits in a channel and no update handler runs: closing or continuing
// as new now loses nothing.
func (s *incidentState) quiet(ctx workflow.Context) bool {
	for _, name := range []string{SignalIncidentUpdated, MessageClassify, MessageDecide, MessageExtend, MessageUndo, MessageFeedback} {
		if workflow.GetSignalChannel(ctx, name).Len() > 0 {
			return false
		}
	}
	return workflow.AllHandlersFinished(ctx)
}

func (s *incidentState) shouldContinueAsNew(ctx workflow.Context) bool {
	return s.updatesThisRun >= s.input.MaxUpdatesBeforeContinueAsNew || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// changed marks the state changed: the main loop publishes it, the scheduler recomputes its deadline.
func (s *incidentState) changed(workflow.Context) { s.version++ }

// runIngestLoop takes re-ingests: a newer version is persisted and its new cards are added.
func (s *incidentState) runIngestLoop(ctx workflow.Context) {
	for {
		var raw json.RawMessage
		s.updates.Receive(ctx, &raw)
		s.updatesThisRun++
		inc, err := s.decodeUpdate(raw)
		if err != nil {
			s.rejectedUpdates++
			workflow.GetLogger(ctx).Warn("ignoring a rejected incident update", "signal", SignalIncidentUpdated, "error", err)
			s.changed(ctx)
			continue
		}
		s.inflight++
		before := s.ingestCount
		if err := s.ingest(ctx, inc); err != nil {
			workflow.GetLogger(ctx).Error("re-ingest failed; the workflow keeps the version it has", "error", err)
		} else if s.ingestCount != before {
			if err := s.regenerate(ctx); err != nil {
				workflow.GetLogger(ctx).Error("cards not regenerated after a re-ingest", "error", err)
			}
			s.applySourceResolution(ctx)
		}
		s.inflight--
		s.changed(ctx)
	}
}

// applySourceResolution follows the source when it resolved the incident: its classification is taken
// when no analyst classified here, and open proposals expire.
func (s *incidentState) applySourceResolution(ctx workflow.Context) {
	if s.current.Status != incident.StatusResolved {
		return
	}
	if s.g.Classification == nil && incident.FitsClassification(s.current.Classification, s.current.Determination) {
		s.g.Classification = &ClassificationRecord{
			Classification: s.current.Classification, Determination: s.current.Determination,
			Principal: "source:" + string(s.current.Source), At: workflow.Now(ctx), Via: "source",
		}
		s.audit(ctx, "classification", s.g.Classification.Principal, "", map[string]any{
			"classification": s.current.Classification, "determination": s.current.Determination, "via": "source",
		})
	}
	s.expireProposals(ctx, "the incident was resolved at its source")
}

// close writes the report and the training data, then ends the run.
func (s *incidentState) close(ctx workflow.Context) (IncidentResult, error) {
	s.phase = PhaseClosed
	s.closing = workflow.GetVersion(ctx, changeRefuseWhenClosing, workflow.DefaultVersion, 1) >= 1
	cls := s.g.Classification
	in := activities.CloseIncidentInput{
		Incident: s.current, RunID: workflow.GetInfo(ctx).WorkflowExecution.RunID, Story: s.g.Story,
		Cards: s.sortedCards(), Classification: cls.Classification, Determination: cls.Determination,
		ClassifiedBy: cls.Principal, ClassifiedAt: cls.At, ModelVersion: s.g.ModelVersion,
		PlaybookVersion: s.g.PlaybookVersion, ClosedAt: workflow.Now(ctx),
	}
	actx := workflow.WithActivityOptions(ctx, durableOptions(time.Minute))
	var out activities.CloseIncidentOutput
	if err := workflow.ExecuteActivity(actx, a.CloseIncident, in).Get(ctx, &out); err != nil {
		return IncidentResult{}, err
	}
	s.report = &ReportOutput{Closed: true, Markdown: out.ReportMarkdown, JSON: out.ReportJSON}
	s.publish(ctx)
	// A handler that ran while the incident closed (feedback is taken until the end) may have started a
	// side effect that outlives it, such as the feedback's audit event: wait for those too, or they are
	// dropped with the run. Runs recorded before this change ended without waiting.
	waitSideEffects := workflow.GetVersion(ctx, changeCloseAwaitsSideEffects, workflow.DefaultVersion, 1) >= 1
	_ = workflow.Await(ctx, func() bool {
		return workflow.AllHandlersFinished(ctx) && (!waitSideEffects || s.inflight == 0)
	})
	return IncidentResult{
		TenantID:       s.current.TenantID,
		IncidentID:     s.current.ID,
		Status:         string(s.current.Status),
		IngestCount:    s.ingestCount,
		Classification: cls.Classification,
		Determination:  cls.Determination,
		Applied:        s.countCards(card.StatusApplied) + s.countCards(card.StatusUndone),
		Failed:         s.countCards(card.StatusFailed),
	}, nil
}

func (s *incidentState) countCards(st card.Status) int {
	n := 0
	for i := range s.g.Cards {
		if s.g.Cards[i].Status == st && s.g.Cards[i].Category != card.CategoryTriage {
			n++
		}
	}
	return n
}

// ingest persists inc when it is not older than what the workflow holds, and makes it current.
func (s *incidentState) ingest(ctx workflow.Context, inc incident.Incident) error {
	if s.persisted && inc.LastUpdatedAt.Before(s.current.LastUpdatedAt) {
		workflow.GetLogger(ctx).Info("ignoring an older version of the incident", "lastUpdatedAt", inc.LastUpdatedAt, "current", s.current.LastUpdatedAt)
		return nil
	}
	if s.persisted && sameIncident(inc, s.current) {
		return nil // a duplicate trigger: nothing new to store
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidIncident},
		},
	})
	var out activities.PersistIncidentOutput
	if err := workflow.ExecuteActivity(actx, a.PersistIncident, activities.PersistIncidentInput{Incident: inc}).Get(ctx, &out); err != nil {
		return err // the activity error names the activity and keeps its type
	}
	s.current = inc
	s.persisted = true
	s.ingestCount++
	return nil
}

func sameIncident(x, y incident.Incident) bool {
	if !x.LastUpdatedAt.Equal(y.LastUpdatedAt) {
		return false
	}
	bx, errx := json.Marshal(x)
	by, erry := json.Marshal(y)
	return errx == nil && erry == nil && string(bx) == string(by)
}

func (s *incidentState) decodeUpdate(raw json.RawMessage) (incident.Incident, error) {
	var sig IncidentUpdatedSignal
	if err := json.Unmarshal(raw, &sig); err != nil {
		return incident.Incident{}, fmt.Errorf("malformed payload: %w", err)
	}
	if err := sig.Incident.Validate(); err != nil {
		return incident.Incident{}, err
	}
	if sig.Incident.TenantID != s.current.TenantID || sig.Incident.ID != s.current.ID {
		return incident.Incident{}, errors.New("the update is for incident " + sig.Incident.TenantID + "/" + sig.Incident.ID + ", not this one")
	}
	return sig.Incident, nil
}

// continueAsNew carries the newest incident and the whole guided state into a fresh run.
func (s *incidentState) continueAsNew(ctx workflow.Context) error {
	for {
		var raw json.RawMessage
		if !s.updates.ReceiveAsync(&raw) {
			break
		}
		if inc, err := s.decodeUpdate(raw); err == nil && !inc.LastUpdatedAt.Before(s.current.LastUpdatedAt) {
			s.current = inc
		}
	}
	next := s.input
	next.Incident = s.current
	next.IngestCount = s.ingestCount
	g := s.g
	next.Guided = &g
	return workflow.NewContinueAsNewError(ctx, IncidentWorkflow, next)
}

// publish shows the incident in the Temporal UI: search attributes (written when they change) and the
// current details.
func (s *incidentState) publish(ctx workflow.Context) {
	want := map[string]string{
		SearchAttributeTenant.GetName():   s.current.TenantID,
		SearchAttributeID.GetName():       s.current.ID,
		SearchAttributeSeverity.GetName(): string(s.current.Severity),
		SearchAttributeStatus.GetName():   s.statusAttribute(),
	}
	updates := []temporal.SearchAttributeUpdate{
		SearchAttributeTenant.ValueSet(s.current.TenantID),
		SearchAttributeID.ValueSet(s.current.ID),
		SearchAttributeSeverity.ValueSet(string(s.current.Severity)),
		SearchAttributeStatus.ValueSet(s.statusAttribute()),
	}
	if s.g.Classification != nil {
		want[SearchAttributeClassification.GetName()] = string(s.g.Classification.Classification)
		updates = append(updates, SearchAttributeClassification.ValueSet(string(s.g.Classification.Classification)))
	}
	if s.g.Ready {
		n := s.pendingApprovals()
		want[SearchAttributePendingApprovals.GetName()] = fmt.Sprint(n)
		updates = append(updates, SearchAttributePendingApprovals.ValueSet(int64(n)))
	}
	if !maps.Equal(want, s.published) {
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			workflow.GetLogger(ctx).Warn("search attributes not updated", "error", err)
		} else {
			s.published = want
		}
	}
	workflow.SetCurrentDetails(ctx, s.detailsMarkdown())
}

// statusAttribute is the IncidentStatus search attribute: the workflow's phase once closed, the source's
// status before.
func (s *incidentState) statusAttribute() string {
	if s.phase == PhaseClosed {
		return "closed"
	}
	return string(s.current.Status)
}

func (s *incidentState) status() StatusOutput {
	return StatusOutput{
		Phase:           s.phase,
		TenantID:        s.current.TenantID,
		IncidentID:      s.current.ID,
		Title:           s.current.Title,
		Severity:        s.current.Severity,
		Status:          s.current.Status,
		Alerts:          len(s.current.Alerts),
		Entities:        len(s.current.Entities()),
		IngestCount:     s.ingestCount,
		Persisted:       s.persisted,
		LastUpdatedAt:   s.current.LastUpdatedAt.UTC().Format(time.RFC3339),
		RejectedUpdates: s.rejectedUpdates,

		Ready:            s.g.Ready,
		Classification:   s.g.Classification,
		PendingApprovals: s.pendingApprovals(),
		CardsByStatus:    s.cardsByStatus(),
		Escalated:        s.g.Escalated,
		Rejected:         s.g.Rejected,
	}
}

func (s *incidentState) cardsByStatus() map[card.Status]int {
	m := map[card.Status]int{}
	for i := range s.g.Cards {
		if s.g.Cards[i].Category != card.CategoryTriage {
			m[s.g.Cards[i].Status]++
		}
	}
	return m
}

// detailsMarkdown is what the Temporal UI shows as the workflow's current details.
func (s *incidentState) detailsMarkdown() string {
	var b strings.Builder
	inc := &s.current
	fmt.Fprintf(&b, "## %s\n\n", markdownText(inc.Title))
	fmt.Fprintf(&b, "**Severity** %s · **Status** %s · **Phase** %s · **Tenant** %s\n\n", inc.Severity, inc.Status, s.phase, markdownText(inc.TenantID))
	b.WriteString("### Guided response\n\n")
	b.WriteString(s.cardsMarkdown())
	fmt.Fprintf(&b, "\n### Alerts (%d)\n\n", len(inc.Alerts))
	for _, al := range inc.Alerts {
		fmt.Fprintf(&b, "- %s: %s", al.Severity, markdownText(al.Title))
		if al.Category != "" {
			fmt.Fprintf(&b, " (%s)", markdownText(al.Category))
		}
		if len(al.MitreTechniques) > 0 {
			fmt.Fprintf(&b, " %s", strings.Join(al.MitreTechniques, ", "))
		}
		b.WriteString("\n")
	}
	entities := inc.Entities()
	fmt.Fprintf(&b, "\n### Entities (%d)\n\n", len(entities))
	for _, e := range entities {
		fmt.Fprintf(&b, "- %s `%s`", e.Kind, markdownCode(e.Name()))
		if e.Verdict != "" && e.Verdict != incident.VerdictUnknown {
			fmt.Fprintf(&b, " %s", e.Verdict)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// The replacers are built once: building one is most of the cost of a call, and the details are rendered
// whenever the state changes. A Replacer is immutable and safe for concurrent use.
var (
	markdownTextReplacer = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", "&lt;", ">", "&gt;", "#", `\#`, "|", `\|`, "\n", " ", "\r", " ")
	markdownCodeReplacer = strings.NewReplacer("`", "'", "\n", " ", "\r", " ")
)

// markdownText escapes characters that would turn attacker-controlled text into Markdown markup.
func markdownText(s string) string { return markdownTextReplacer.Replace(s) }

// markdownCode makes s safe inside a single-backtick code span.
func markdownCode(s string) string { return markdownCodeReplacer.Replace(s) }
