package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/hunting"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/learn"
	"github.com/guided-response/guided/playbook"
	"github.com/guided-response/guided/ranking"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/report"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/summary"
)

// LoadAccess loads the tenant's principals and roles for the workflow's validators.
func (a *Activities) LoadAccess(ctx context.Context, in LoadAccessInput) (LoadAccessOutput, error) {
	snap, err := a.Access.Snapshot(ctx, in.TenantID)
	if err != nil {
		return LoadAccessOutput{}, fmt.Errorf("load principals of tenant %s: %w", in.TenantID, err)
	}
	return LoadAccessOutput{Access: snap}, nil
}

// Summarize writes the attack story; with an LLM configured it asks for a narrative and falls back to the
// deterministic one on any failure.
func (a *Activities) Summarize(ctx context.Context, in SummarizeInput) (SummarizeOutput, error) {
	story := summary.Summarize(&in.Incident)
	story = summary.Enrich(ctx, story, a.LLM)
	return SummarizeOutput{Story: story}, nil
}

// GenerateCards makes the cards from the playbooks current now, the triage suggestion, and, for
// phishing, the similar-emails query.
func (a *Activities) GenerateCards(ctx context.Context, in GenerateCardsInput) (GenerateCardsOutput, error) {
	set := a.Playbooks.Current()
	triage := playbook.Triage(&in.Incident, a.TriageThreshold)
	if a.Models != nil {
		model, version, err := a.Models.Get(ctx, in.ModelVersion)
		switch {
		case errors.Is(err, ErrModelUnreadable):
			// The rules' suggestion stands until a model this build reads is trained.
			a.Logger.Warn("triage by the playbooks' rules", "tenant", in.Incident.TenantID, "incident", in.Incident.ID, "error", err)
			model = nil
		case err != nil:
			return GenerateCardsOutput{}, fmt.Errorf("load the triage model: %w", err)
		}
		if model != nil {
			triage = modelTriage(triage, model, version, &in.Incident, a.ModelThreshold)
		}
	}
	cards := append([]card.Card{triage}, set.Generate(&in.Incident)...)
	for i := range cards {
		if cards[i].Action == card.ActionInvestigateSimilarEmails && cards[i].Query == "" {
			cards[i].Query = a.similarEmailsQuery(&in.Incident, cards[i].Entity)
		}
		// An action no connector here applies is shown unavailable, rather than failing after approval.
		if cards[i].Action.Applicable() && a.Connectors != nil {
			if _, err := a.Connectors.For(cards[i].Action); err != nil {
				cards[i].Unsupported = strings.TrimPrefix(err.Error(), "registry: ")
			}
		}
	}
	// The action ranking: what the tenant's analysts did with earlier cards of the same rules.
	stats, err := a.Store.CardSignals(ctx, in.Incident.TenantID, time.Now().Add(-rankingWindow))
	if err != nil {
		return GenerateCardsOutput{}, fmt.Errorf("load the analysts' earlier decisions and feedback: %w", err)
	}
	signals := make(map[ranking.Key]ranking.Signals, len(stats))
	for k, v := range stats {
		signals[ranking.Key{RuleID: k.RuleID, Action: k.Action}] = ranking.Signals{Approved: v.Approved, Rejected: v.Rejected,
			Helpful: v.Helpful, NotHelpful: v.NotHelpful}
	}
	cards = ranking.Rerank(cards, signals, a.similarActions(ctx, &in.Incident, in.ModelVersion))
	model := ""
	if triage.Triage != nil {
		model = triage.Triage.ModelVersion
	}
	return GenerateCardsOutput{Cards: cards, PlaybookVersion: set.Version(), ModelVersion: model, Policy: a.Policy}, nil
}

// similarActions is, per card action, the share of the most similar past incidents (by the triage
// model's embedding) in which analysts applied it; none without a trained model.
func (a *Activities) similarActions(ctx context.Context, inc *incident.Incident, version string) map[card.Action]float64 {
	if a.Models == nil {
		return nil
	}
	model, _, err := a.Models.Get(ctx, version)
	if err != nil || model == nil || model.Embedder == nil || model.Actions == nil {
		return nil
	}
	agg := learn.FromIncident(inc)
	out := map[card.Action]float64{}
	for _, s := range model.Actions.Scores(model.Embedder.Embed(&agg, nil)) {
		if act := ranking.ActionOf(s.Action); act != "" {
			out[act] = max(out[act], s.Score)
		}
	}
	return out
}

// rankingWindow is how far back the action ranking looks: habits change, old decisions fade out.
const rankingWindow = 365 * 24 * time.Hour

func (a *Activities) similarEmailsQuery(inc *incident.Incident, ref *card.EntityRef) string {
	key := ""
	if ref != nil {
		key = ref.Key
	}
	q, err := hunting.SimilarEmailsOfIncident(inc, key)
	if err != nil {
		a.Logger.Warn("no similar-emails query for this message", "incident", inc.ID, "error", err)
		return ""
	}
	return q
}

// ApplyAction applies one card's action through its connector, at most once per idempotency key: a
// key already applied returns the recorded result; the principal's permission is checked again here.
func (a *Activities) ApplyAction(ctx context.Context, in ApplyActionInput) (ApplyActionOutput, error) {
	if in.Principal != "system" {
		p, err := a.Access.Principal(ctx, in.TenantID, in.Principal)
		if errors.Is(err, rbac.ErrNotFound) {
			return ApplyActionOutput{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("principal %s no longer exists in tenant %s", in.Principal, in.TenantID), ErrTypeActionForbidden, err)
		}
		if err != nil {
			return ApplyActionOutput{}, fmt.Errorf("check principal %s: %w", in.Principal, err)
		}
		if err := p.Check(in.Permission); err != nil {
			return ApplyActionOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeActionForbidden, err)
		}
	}
	conn, err := a.Connectors.For(in.Action)
	if err != nil {
		return ApplyActionOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeActionPermanent, err)
	}
	existing, err := a.Store.BeginAction(ctx, store.ActionStart{
		IdempotencyKey: in.IdempotencyKey, TenantID: in.TenantID, IncidentID: in.IncidentID, CardID: in.CardID,
		Action: in.Action, Connector: conn.Name(), Principal: in.Principal,
	})
	if err != nil {
		return ApplyActionOutput{}, fmt.Errorf("record action start: %w", err)
	}
	if existing != nil && existing.Finished() {
		// Applied or failed before (a retry after a crash, a duplicate approval): never apply twice.
		res := existing.Result()
		a.Logger.Info("action already settled; returning the recorded result", "key", in.IdempotencyKey, "status", existing.Status)
		if existing.Status == store.ActionFailed {
			return ApplyActionOutput{}, temporal.NewNonRetryableApplicationError(res.Error, ErrTypeActionPermanent, nil)
		}
		return ApplyActionOutput{Result: *res}, nil
	}

	info := activity.GetInfo(ctx)
	// Heartbeat while the connector works: with the connector's progress notes when it gives them (a
	// Defender machine action going Pending -> InProgress), and at least every 20 seconds otherwise, so a
	// worker that dies is noticed within the heartbeat timeout, not the whole start-to-close timeout.
	stopBeats := make(chan struct{})
	defer close(stopBeats)
	go func() {
		t := time.NewTicker(20 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopBeats:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, "waiting for "+conn.Name())
			}
		}
	}()
	res, err := conn.Apply(ctx, connector.Request{
		IdempotencyKey: in.IdempotencyKey, TenantID: in.TenantID, IncidentID: in.IncidentID, CardID: in.CardID,
		Action: in.Action, Entity: in.Entity, Parameters: in.Parameters, Principal: in.Principal, Comment: in.Comment,
	}, func(note string) { activity.RecordHeartbeat(ctx, note) })
	now := time.Now().UTC()
	if err != nil {
		final := connector.IsPermanent(err) || int(info.Attempt) >= maxAttempts(info)
		if final {
			if ferr := a.Store.FinishAction(ctx, in.IdempotencyKey, store.ActionFailed, "", "", err.Error()); ferr != nil {
				a.Logger.Error("action failure not recorded", "key", in.IdempotencyKey, "error", ferr)
			}
			a.observe(in.Action, false)
		}
		return ApplyActionOutput{}, applyError(conn.Name(), err)
	}
	if err := a.Store.FinishAction(ctx, in.IdempotencyKey, store.ActionApplied, res.ExternalID, res.Message, ""); err != nil {
		return ApplyActionOutput{}, fmt.Errorf("record action result: %w", err)
	}
	a.observe(in.Action, true)
	a.Logger.Info("action applied", "action", in.Action, "connector", conn.Name(), "incident", in.IncidentID, "card", in.CardID, "external_id", res.ExternalID)
	return ApplyActionOutput{Result: card.Result{Connector: conn.Name(), ExternalID: res.ExternalID, Message: res.Message,
		Attempts: int(info.Attempt), FinishedAt: now}}, nil
}

func maxAttempts(info activity.Info) int {
	if info.RetryPolicy == nil || info.RetryPolicy.MaximumAttempts <= 0 {
		return 1 << 30
	}
	return int(info.RetryPolicy.MaximumAttempts)
}

// applyError tells Temporal whether to retry, and when the target asked to wait, how long.
func applyError(connectorName string, err error) error {
	msg := err.Error()
	if !strings.HasPrefix(msg, connectorName) {
		msg = connectorName + ": " + msg
	}
	if connector.IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeActionPermanent, err)
	}
	if d, ok := connector.RetryAfter(err); ok {
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeActionRetryable, temporal.ApplicationErrorOptions{NextRetryDelay: d, Cause: err})
	}
	return temporal.NewApplicationErrorWithCause(msg, ErrTypeActionRetryable, err)
}

// RecordAudit writes one audit event, once per event key.
func (a *Activities) RecordAudit(ctx context.Context, in AuditInput) error {
	detail, err := json.Marshal(in.Detail)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("audit detail does not encode", "BadAudit", err)
	}
	return a.Store.RecordAudit(ctx, store.AuditEvent{
		EventKey: in.EventKey, TenantID: in.TenantID, IncidentID: in.IncidentID, At: in.At,
		Principal: in.Principal, Kind: store.AuditKind(in.Kind), CardID: in.CardID, Detail: detail,
	})
}

// RecordFeedback stores feedback on a card, once per feedback ID.
func (a *Activities) RecordFeedback(ctx context.Context, in FeedbackRecord) (RecordFeedbackOutput, error) {
	created, err := a.Store.RecordFeedback(ctx, store.Feedback{
		FeedbackID: in.FeedbackID, TenantID: in.TenantID, IncidentID: in.IncidentID, CardID: in.CardID,
		Action: in.Action, Category: in.Category, RuleID: in.RuleID, Principal: in.Principal,
		Helpful: in.Helpful, Reason: in.Reason, Comment: in.Comment, CreatedAt: in.At,
	})
	if errors.Is(err, store.ErrDuplicate) {
		return RecordFeedbackOutput{}, temporal.NewNonRetryableApplicationError(
			"feedback id "+in.FeedbackID+" was used for different feedback", "FeedbackConflict", err)
	}
	if err != nil {
		return RecordFeedbackOutput{}, err
	}
	return RecordFeedbackOutput{Created: created}, nil
}

// CloseIncident writes the report and records the outcome as training data.
func (a *Activities) CloseIncident(ctx context.Context, in CloseIncidentInput) (CloseIncidentOutput, error) {
	md, js, err := report.Build(report.Input{
		Incident: in.Incident, Story: in.Story, Cards: in.Cards, Classification: in.Classification,
		Determination: in.Determination, ClassifiedBy: in.ClassifiedBy, ClassifiedAt: in.ClassifiedAt,
		ModelVersion: in.ModelVersion, PlaybookVersion: in.PlaybookVersion, ClosedAt: in.ClosedAt,
	})
	if err != nil {
		return CloseIncidentOutput{}, err
	}
	if err := a.Store.SaveReport(ctx, store.Report{TenantID: in.Incident.TenantID, IncidentID: in.Incident.ID, RunID: in.RunID,
		Markdown: md, JSON: js, CreatedAt: in.ClosedAt}); err != nil {
		return CloseIncidentOutput{}, fmt.Errorf("save report: %w", err)
	}
	var applied, rejected []card.Action
	for _, c := range in.Cards {
		switch c.Status {
		case card.StatusApplied, card.StatusUndone:
			if c.Action.Applicable() {
				applied = append(applied, c.Action)
			}
		case card.StatusRejected:
			rejected = append(rejected, c.Action)
		}
	}
	features, err := json.Marshal(outcomeFeatures(&in.Incident))
	if err != nil {
		return CloseIncidentOutput{}, fmt.Errorf("encode features: %w", err)
	}
	if err := a.Store.RecordOutcome(ctx, store.Outcome{
		TenantID: in.Incident.TenantID, IncidentID: in.Incident.ID, Classification: in.Classification,
		Determination: in.Determination, ClassifiedBy: in.ClassifiedBy, ClassifiedAt: in.ClassifiedAt,
		AppliedActions: applied, RejectedActions: rejected, Features: features,
		ModelVersion: in.ModelVersion, ClosedAt: in.ClosedAt,
	}); err != nil {
		return CloseIncidentOutput{}, fmt.Errorf("record outcome: %w", err)
	}
	// Training data: the incident as the models see it, graded by the analyst, with what was applied.
	hist := learn.FromIncident(&in.Incident)
	hist.Grade = learn.GradeOf(in.Classification)
	hist.Actions = nil
	for _, act := range applied {
		if !slices.Contains(hist.Actions, string(act)) {
			hist.Actions = append(hist.Actions, string(act))
		}
	}
	slices.Sort(hist.Actions)
	if err := a.Store.UpsertGuided(ctx, in.Incident.TenantID, in.Incident.ID, hist); err != nil {
		return CloseIncidentOutput{}, err
	}
	return CloseIncidentOutput{ReportMarkdown: md, ReportJSON: js}, nil
}

// outcomeFeatures is what the learning issue trains on: what the incident looked like when it opened.
func outcomeFeatures(inc *incident.Incident) map[string]any {
	var categories, detectors, titles []string
	for _, al := range inc.Alerts {
		categories = append(categories, al.Category)
		detectors = append(detectors, al.DetectorID)
		titles = append(titles, al.Title)
	}
	kinds := map[string]int{}
	verdicts := map[string]int{}
	roles := map[string]int{}
	for _, e := range inc.Entities() {
		kinds[string(e.Kind)]++
		verdicts[string(e.Verdict)]++
		for _, r := range e.Roles {
			roles[string(r)]++
		}
	}
	return map[string]any{
		"severity": inc.Severity, "alertCategories": categories, "detectors": detectors, "alertTitles": titles,
		"techniques": inc.Techniques(), "entityKinds": kinds, "verdicts": verdicts, "roles": roles, "alerts": len(inc.Alerts),
	}
}

func (a *Activities) observe(action card.Action, applied bool) {
	if a.ObserveAction != nil {
		a.ObserveAction(string(action), applied)
	}
}
