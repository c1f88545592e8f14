// Package workflows holds the incident workflow: one workflow per incident, from ingest to close.
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/incident"
)

// defaultMaxUpdates bounds how many re-ingests one run takes before it continues as new.
const defaultMaxUpdates = 500

// a is the typed nil pointer workflows name activities through; the worker registers the real struct.
var a *activities.Activities

// IncidentWorkflow runs the guided response of one incident. It persists the incident, keeps it current as
// re-ingests arrive, and closes when the incident is resolved at its source.
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
	current         incident.Incident
	phase           Phase
	persisted       bool
	ingestCount     int
	updatesThisRun  int
	rejectedUpdates int
	updates         workflow.ReceiveChannel
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
		current:     in.Incident,
		phase:       PhaseIngesting,
		ingestCount: in.IngestCount,
		updates:     workflow.GetSignalChannel(ctx, SignalIncidentUpdated),
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func(StatusInput) (StatusOutput, error) {
		return s.status(), nil
	}); err != nil {
		return nil, fmt.Errorf("register %s query: %w", QueryStatus, err)
	}
	return s, nil
}

func (s *incidentState) run(ctx workflow.Context) (IncidentResult, error) {
	if err := s.ingest(ctx, s.current); err != nil {
		return IncidentResult{}, err
	}
	s.phase = PhaseOpen
	s.publish(ctx)

	for !s.closed() {
		if s.updatesThisRun >= s.input.MaxUpdatesBeforeContinueAsNew || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return IncidentResult{}, s.continueAsNew(ctx)
		}
		update, ok := s.receiveUpdate(ctx)
		if !ok {
			continue
		}
		if err := s.ingest(ctx, update); err != nil {
			return IncidentResult{}, err
		}
		s.publish(ctx)
	}

	s.phase = PhaseClosed
	s.publish(ctx)
	return IncidentResult{
		TenantID:    s.current.TenantID,
		IncidentID:  s.current.ID,
		Status:      string(s.current.Status),
		IngestCount: s.ingestCount,
	}, nil
}

// closed reports whether the incident is over. Until the guided response lands, an incident closes when
// its source resolves it.
func (s *incidentState) closed() bool {
	return s.current.Status == incident.StatusResolved
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

// receiveUpdate waits for the next re-ingest. A malformed or foreign one is recorded and ignored.
func (s *incidentState) receiveUpdate(ctx workflow.Context) (incident.Incident, bool) {
	var raw json.RawMessage
	s.updates.Receive(ctx, &raw)
	s.updatesThisRun++
	inc, err := s.decodeUpdate(raw)
	if err != nil {
		s.rejectedUpdates++
		workflow.GetLogger(ctx).Warn("ignoring a rejected incident update", "signal", SignalIncidentUpdated, "error", err)
		return incident.Incident{}, false
	}
	return inc, true
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

// continueAsNew carries the newest incident (pending re-ingests applied) into a fresh run.
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
	return workflow.NewContinueAsNewError(ctx, IncidentWorkflow, next)
}

// publish shows the incident in the Temporal UI: search attributes and the current details.
func (s *incidentState) publish(ctx workflow.Context) {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		SearchAttributeTenant.ValueSet(s.current.TenantID),
		SearchAttributeID.ValueSet(s.current.ID),
		SearchAttributeSeverity.ValueSet(string(s.current.Severity)),
		SearchAttributeStatus.ValueSet(string(s.current.Status)),
	)
	if err != nil {
		workflow.GetLogger(ctx).Warn("search attributes not updated", "error", err)
	}
	workflow.SetCurrentDetails(ctx, s.detailsMarkdown())
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
	}
}

// detailsMarkdown is what the Temporal UI shows as the workflow's current details.
func (s *incidentState) detailsMarkdown() string {
	var b strings.Builder
	inc := &s.current
	fmt.Fprintf(&b, "## %s\n\n", markdownText(inc.Title))
	fmt.Fprintf(&b, "**Severity** %s · **Status** %s · **Phase** %s · **Tenant** %s\n\n", inc.Severity, inc.Status, s.phase, markdownText(inc.TenantID))
	fmt.Fprintf(&b, "### Alerts (%d)\n\n", len(inc.Alerts))
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

// markdownText escapes characters that would turn attacker-controlled text into Markdown markup.
func markdownText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", "&lt;", ">", "&gt;", "#", `\#`, "|", `\|`, "\n", " ", "\r", " ")
	return r.Replace(s)
}

// markdownCode makes s safe inside a single-backtick code span.
func markdownCode(s string) string {
	return strings.NewReplacer("`", "'", "\n", " ", "\r", " ").Replace(s)
}
