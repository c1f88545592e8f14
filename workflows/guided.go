package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
)

// The guided response: summary and cards are prepared once the incident is persisted; then humans
// decide (classification, approvals) through Updates and Signals that share one code path, approved
// actions are applied in their own coroutines, and one scheduler coroutine keeps the deadlines
// (classification SLA, approval expiry, time-boxed containment).

const (
	// maxRejected bounds the refused decisions kept for operators.
	maxRejected = 20
	// systemPrincipal acts for the workflow itself (time-box undo, expiry).
	systemPrincipal = "system"
	viaUpdate       = "update"
	viaSignal       = "signal"
	maxExtension    = 7 * 24 * time.Hour
)

// Permissions of the decisions that are not a card's own action.
const (
	permClassify = rbac.PermAlertsManage
	permRead     = rbac.PermSecurityDataRead
)

// errNotReady refuses decisions while the cards are being prepared.
var errNotReady = refuse(RejectNotReady, "the guided response is being prepared; try again in a moment")

// refuse is a refused decision: an application error whose type says why (RejectForbidden, ...), so that
// callers can answer 403, 404, 409, 422 or 503 without parsing the message.
func refuse(kind, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kind, nil)
}

// reasonOf is an error's message without the SDK's type suffix.
func reasonOf(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// registerGuidedHandlers registers the queries, updates and signal channels of the guided response. It
// runs in setup, before anything blocks.
func (s *incidentState) registerGuidedHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QuerySummary, func(SummaryInput) (SummaryOutput, error) {
		return SummaryOutput{Story: s.g.Story}, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryCards, func(in CardsInput) (CardsOutput, error) {
		return s.cardsFor(in.Principal), nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, MessageClassify,
		func(ctx workflow.Context, in ClassifyInput) (ClassifyOutput, error) {
			return s.classify(ctx, in, viaUpdate)
		},
		workflow.UpdateHandlerOptions{Validator: s.validateClassify}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, MessageDecide,
		func(ctx workflow.Context, in DecideInput) (DecideOutput, error) { return s.decide(ctx, in, viaUpdate) },
		workflow.UpdateHandlerOptions{Validator: s.validateDecide}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, MessageExtend,
		func(ctx workflow.Context, in ExtendInput) (DecideOutput, error) { return s.extend(ctx, in, viaUpdate) },
		workflow.UpdateHandlerOptions{Validator: s.validateExtend}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, MessageUndo,
		func(ctx workflow.Context, in UndoInput) (DecideOutput, error) { return s.undo(ctx, in, viaUpdate) },
		workflow.UpdateHandlerOptions{Validator: s.validateUndo}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, MessageFeedback,
		func(ctx workflow.Context, in FeedbackInput) (FeedbackOutput, error) { return s.feedback(ctx, in) },
		workflow.UpdateHandlerOptions{Validator: s.validateFeedback})
}

// startSignalLoops serves the signal forms of the decisions: each is validated like the Update; a refused
// or malformed one is recorded and ignored, it never fails or blocks the workflow.
func (s *incidentState) startSignalLoops(ctx workflow.Context, quietTimers bool) {
	serveSignal(ctx, s, MessageClassify, func(in ClassifyInput) string { return in.Principal }, s.validateClassify,
		func(ctx workflow.Context, in ClassifyInput) error {
			_, err := s.classify(ctx, in, viaSignal)
			return err
		})
	serveSignal(ctx, s, MessageDecide, func(in DecideInput) string { return in.Principal }, s.validateDecide,
		func(ctx workflow.Context, in DecideInput) error { _, err := s.decide(ctx, in, viaSignal); return err })
	serveSignal(ctx, s, MessageExtend, func(in ExtendInput) string { return in.Principal }, s.validateExtend,
		func(ctx workflow.Context, in ExtendInput) error { _, err := s.extend(ctx, in, viaSignal); return err })
	serveSignal(ctx, s, MessageUndo, func(in UndoInput) string { return in.Principal }, s.validateUndo,
		func(ctx workflow.Context, in UndoInput) error { _, err := s.undo(ctx, in, viaSignal); return err })
	serveSignal(ctx, s, MessageFeedback, func(in FeedbackInput) string { return in.Principal }, s.validateFeedback,
		func(ctx workflow.Context, in FeedbackInput) error { _, err := s.feedback(ctx, in); return err })

	refresh := workflow.GetSignalChannel(ctx, SignalRefreshAccess)
	if quietTimers {
		// One period timer at a time: a refresh signal refreshes at once (several pending ones once)
		// and leaves the period's timer running.
		workflow.Go(ctx, func(ctx workflow.Context) {
			var period workflow.Future
			for {
				if period == nil {
					period = workflow.NewTimerWithOptions(ctx, s.g.Policy.AccessRefresh,
						workflow.TimerOptions{Summary: "refresh the tenant's principals and roles"})
				}
				_ = workflow.Await(ctx, func() bool { return refresh.Len() > 0 || period.IsReady() })
				for refresh.ReceiveAsync(nil) {
				}
				if period.IsReady() {
					period = nil
				}
				s.loadAccess(ctx)
			}
		})
		return
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(refresh, func(c workflow.ReceiveChannel, _ bool) { c.ReceiveAsync(nil) })
			sel.AddFuture(workflow.NewTimer(ctx, s.g.Policy.AccessRefresh), func(workflow.Future) {})
			sel.Select(ctx)
			s.loadAccess(ctx)
		}
	})
}

// serveSignal runs one decision's signal loop: decode strictly, validate as the Update does, then
// handle through the same code; a refusal is recorded for operators.
func serveSignal[T any](ctx workflow.Context, s *incidentState, name string, principal func(T) string,
	validate func(workflow.Context, T) error, handle func(workflow.Context, T) error) {
	ch := workflow.GetSignalChannel(ctx, name)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var raw json.RawMessage
			ch.Receive(ctx, &raw)
			var in T
			if err := decodeStrict(raw, &in); err != nil {
				s.reject(ctx, name, "", err)
				continue
			}
			err := validate(ctx, in)
			if err == nil {
				err = handle(ctx, in)
			}
			if err != nil {
				s.reject(ctx, name, principal(in), err)
			}
		}
	})
}

func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed payload: %w", err)
	}
	return nil
}

// reject records a refused signal for operators.
func (s *incidentState) reject(ctx workflow.Context, message, principal string, err error) {
	workflow.GetLogger(ctx).Warn("decision refused", "message", message, "principal", principal, "reason", reasonOf(err))
	s.g.Rejected = append(s.g.Rejected, RejectedMessage{At: workflow.Now(ctx), Message: message, Principal: principal, Reason: reasonOf(err)})
	if len(s.g.Rejected) > maxRejected {
		s.g.Rejected = slices.Clone(s.g.Rejected[len(s.g.Rejected)-maxRejected:])
	}
	s.changed(ctx)
}

// prepare loads access, summarizes the incident and generates its cards, once.
func (s *incidentState) prepare(ctx workflow.Context) error {
	if s.g.Ready {
		return nil
	}
	s.loadAccess(ctx)
	actx := workflow.WithActivityOptions(ctx, durableOptions(time.Minute))
	var story activities.SummarizeOutput
	if err := workflow.ExecuteActivity(actx, a.Summarize, activities.SummarizeInput{Incident: s.current}).Get(ctx, &story); err != nil {
		return err
	}
	var gen activities.GenerateCardsOutput
	if err := workflow.ExecuteActivity(actx, a.GenerateCards, activities.GenerateCardsInput{Incident: s.current}).Get(ctx, &gen); err != nil {
		return err
	}
	s.g.Story = story.Story
	s.g.Policy = gen.Policy
	s.g.PlaybookVersion = gen.PlaybookVersion
	s.g.ModelVersion = gen.ModelVersion
	s.mergeCards(ctx, gen.Cards)
	s.g.Ready = true
	s.changed(ctx)
	return nil
}

// regenerate refreshes summary and cards after a re-ingest: new cards are added, decided ones kept.
func (s *incidentState) regenerate(ctx workflow.Context) error {
	actx := workflow.WithActivityOptions(ctx, durableOptions(time.Minute))
	var story activities.SummarizeOutput
	if err := workflow.ExecuteActivity(actx, a.Summarize, activities.SummarizeInput{Incident: s.current}).Get(ctx, &story); err != nil {
		return err
	}
	var gen activities.GenerateCardsOutput
	if err := workflow.ExecuteActivity(actx, a.GenerateCards, activities.GenerateCardsInput{Incident: s.current, ModelVersion: s.g.ModelVersion}).Get(ctx, &gen); err != nil {
		return err
	}
	s.g.Story = story.Story
	s.mergeCards(ctx, gen.Cards)
	s.changed(ctx)
	return nil
}

// mergeCards adds cards not seen before, with their approval deadline and required approvals. A card
// already known keeps its state: a re-generation never undoes a decision.
func (s *incidentState) mergeCards(ctx workflow.Context, cards []card.Card) {
	now := workflow.Now(ctx)
	for _, c := range cards {
		if existing := s.card(c.ID); existing != nil {
			if c.Category == card.CategoryTriage && existing.Triage != nil {
				existing.Triage = c.Triage // the latest suggestion; the decision stays the analyst's
			}
			continue
		}
		c.Status = card.StatusProposed
		if c.Action.Applicable() {
			c.ApprovalsRequired = max(1, s.g.Policy.RequiredApprovals[c.Risk])
			if s.g.Policy.ApprovalTTL > 0 {
				c.ExpiresAt = now.Add(s.g.Policy.ApprovalTTL)
			}
		}
		s.g.Cards = append(s.g.Cards, c)
	}
}

func (s *incidentState) loadAccess(ctx workflow.Context) {
	actx := workflow.WithActivityOptions(ctx, durableOptions(time.Minute))
	var out activities.LoadAccessOutput
	if err := workflow.ExecuteActivity(actx, a.LoadAccess, activities.LoadAccessInput{TenantID: s.current.TenantID}).Get(ctx, &out); err != nil {
		workflow.GetLogger(ctx).Error("principals and roles not loaded; decisions are refused until they are", "error", err)
		return
	}
	s.g.Access = out.Access
	s.changed(ctx)
}

// durableOptions retry until the store is back: a decision or an incident must not be lost to an outage.
// errClosing refuses a decision that arrives while the incident closes: its report and outcome are being
// written from the state as it was, and a decision now would be missing from them. Feedback is still
// taken (it is stored on its own).
var errClosing = refuse(RejectConflict, "the incident is closing: its guided response is over and its report written; feedback is still taken")

func durableOptions(startToClose time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: startToClose,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidIncident},
		},
	}
}

func (s *incidentState) card(id string) *card.Card {
	for i := range s.g.Cards {
		if s.g.Cards[i].ID == id {
			return &s.g.Cards[i]
		}
	}
	return nil
}

// checkPrincipal refuses unknown principals and those without perm.
func (s *incidentState) checkPrincipal(principal string, perm rbac.Permission) error {
	if principal == "" {
		return refuse(RejectInvalid, "principal is required: say who decides")
	}
	p, ok := s.g.Access.Lookup(principal)
	if !ok {
		return refuse(RejectForbidden, "principal %s is not known in tenant %s: add it (and its roles) first; a principal added in the last minutes is seen after the next access refresh or a %s signal", principal, s.current.TenantID, SignalRefreshAccess)
	}
	if err := p.Check(perm); err != nil {
		return refuse(RejectForbidden, "%s", err.Error())
	}
	return nil
}

func (s *incidentState) validateClassify(_ workflow.Context, in ClassifyInput) error {
	if !s.g.Ready {
		return errNotReady
	}
	if s.closing {
		return errClosing
	}
	if err := s.checkPrincipal(in.Principal, permClassify); err != nil {
		return err
	}
	switch in.Classification {
	case incident.ClassificationTruePositive, incident.ClassificationInformationalExpectedActivity, incident.ClassificationFalsePositive:
	default:
		return refuse(RejectInvalid, "classification %q: use truePositive, informationalExpectedActivity or falsePositive", in.Classification)
	}
	if !incident.FitsClassification(in.Classification, in.Determination) {
		return refuse(RejectInvalid, "determination %q does not go with %s: use one of %v", in.Determination, in.Classification, incident.Determinations(in.Classification))
	}
	if len(in.Comment) > 4096 {
		return refuse(RejectInvalid, "comment is longer than 4096 characters")
	}
	return nil
}

func (s *incidentState) classify(ctx workflow.Context, in ClassifyInput, via string) (ClassifyOutput, error) {
	rec := ClassificationRecord{
		Classification: in.Classification, Determination: in.Determination,
		Principal: in.Principal, At: workflow.Now(ctx), Comment: in.Comment, Via: via,
	}
	s.g.Classification = &rec
	for i := range s.g.Cards {
		if c := &s.g.Cards[i]; c.Category == card.CategoryTriage {
			// The triage card is answered: the analyst's classification, whatever the suggestion was.
			c.Status = card.StatusApplied
			c.Decisions = append(c.Decisions, card.Decision{Kind: card.DecisionApprove, Principal: in.Principal, At: rec.At, Comment: in.Comment, Via: via})
			c.Result = &card.Result{Connector: "none", Message: fmt.Sprintf("classified %s / %s", in.Classification, in.Determination), FinishedAt: rec.At}
		}
	}
	s.audit(ctx, "classification", in.Principal, "", map[string]any{
		"classification": in.Classification, "determination": in.Determination, "comment": in.Comment, "via": via,
	})
	s.changed(ctx)
	return ClassifyOutput{Classification: rec}, nil
}

func (s *incidentState) validateDecide(_ workflow.Context, in DecideInput) error {
	if !s.g.Ready {
		return errNotReady
	}
	if s.closing {
		return errClosing
	}
	if in.Decision != card.DecisionApprove && in.Decision != card.DecisionReject {
		return refuse(RejectInvalid, "decision %q: use approve or reject", in.Decision)
	}
	if len(in.CardIDs) == 0 {
		return refuse(RejectInvalid, "cardIds is empty: name the cards to decide")
	}
	if len(in.Comment) > 4096 {
		return refuse(RejectInvalid, "comment is longer than 4096 characters")
	}
	seen := map[string]bool{}
	for _, id := range in.CardIDs {
		if seen[id] {
			return refuse(RejectInvalid, "card %s is named twice", id)
		}
		seen[id] = true
		c := s.card(id)
		if c == nil {
			return refuse(RejectNotFound, "no card %s in this incident", id)
		}
		if c.Category == card.CategoryTriage {
			return refuse(RejectInvalid, "card %s is the triage card: classify the incident instead", id)
		}
		if c.Status != card.StatusProposed {
			return refuse(RejectConflict, "card %s is %s, not proposed: it was decided already", id, c.Status)
		}
		if err := s.checkPrincipal(in.Principal, c.Permission); err != nil {
			return refuse(RejectForbidden, "card %s: %s", id, reasonOf(err))
		}
		if in.Decision == card.DecisionApprove && c.Unsupported != "" {
			return refuse(RejectConflict, "card %s: %s; reject it instead", id, c.Unsupported)
		}
		if in.Decision == card.DecisionApprove && slices.Contains(c.Approvers, in.Principal) {
			return refuse(RejectConflict, "card %s: %s approved it already; four-eyes: %d distinct principals must approve a %s-risk action", id, in.Principal, c.ApprovalsRequired, c.Risk)
		}
	}
	return nil
}

func (s *incidentState) decide(ctx workflow.Context, in DecideInput, via string) (DecideOutput, error) {
	now := workflow.Now(ctx)
	var out DecideOutput
	for _, id := range in.CardIDs {
		c := s.card(id)
		c.Decisions = append(c.Decisions, card.Decision{Kind: in.Decision, Principal: in.Principal, At: now, Comment: in.Comment, Via: via})
		switch {
		case in.Decision == card.DecisionReject:
			c.Status = card.StatusRejected
		case !c.Action.Applicable():
			// An investigation step has nothing to apply: approving it marks it done.
			c.Status = card.StatusApplied
			c.Result = &card.Result{Connector: "none", Message: "investigation step acknowledged by " + in.Principal, FinishedAt: now}
		default:
			if c.RequestedBy == "" {
				c.RequestedBy = in.Principal
			}
			c.Approvers = append(c.Approvers, in.Principal)
			if len(c.Approvers) >= c.ApprovalsRequired {
				c.Status = card.StatusApproved
				s.startApply(c.ID)
			}
		}
		s.audit(ctx, "decision", in.Principal, c.ID, map[string]any{
			"decision": in.Decision, "action": c.Action, "ruleId": c.RuleID, "status": c.Status, "comment": in.Comment, "via": via,
			"approvals": len(c.Approvers), "approvalsRequired": c.ApprovalsRequired,
		})
		out.Cards = append(out.Cards, *c)
	}
	s.changed(ctx)
	return out, nil
}

func (s *incidentState) validateExtend(_ workflow.Context, in ExtendInput) error {
	if !s.g.Ready {
		return errNotReady
	}
	if s.closing {
		return errClosing
	}
	c := s.card(in.CardID)
	if c == nil {
		return refuse(RejectNotFound, "no card %s in this incident", in.CardID)
	}
	if c.Status != card.StatusApplied || c.UndoAt.IsZero() {
		return refuse(RejectConflict, "card %s is not a time-boxed action in force (status %s)", in.CardID, c.Status)
	}
	by, err := time.ParseDuration(in.By)
	if err != nil || by <= 0 || by > maxExtension {
		return refuse(RejectInvalid, "by %q: give a Go duration between 1m and %s, e.g. \"4h\"", in.By, maxExtension)
	}
	return s.checkPrincipal(in.Principal, c.Permission)
}

func (s *incidentState) extend(ctx workflow.Context, in ExtendInput, via string) (DecideOutput, error) {
	c := s.card(in.CardID)
	by, _ := time.ParseDuration(in.By)
	c.UndoAt = c.UndoAt.Add(by)
	c.Decisions = append(c.Decisions, card.Decision{Kind: card.DecisionExtend, Principal: in.Principal, At: workflow.Now(ctx), Comment: in.Comment, Via: via})
	s.audit(ctx, "decision", in.Principal, c.ID, map[string]any{"decision": card.DecisionExtend, "by": in.By, "undoAt": c.UndoAt, "via": via})
	s.changed(ctx)
	return DecideOutput{Cards: []card.Card{*c}}, nil
}

func (s *incidentState) validateUndo(_ workflow.Context, in UndoInput) error {
	if !s.g.Ready {
		return errNotReady
	}
	if s.closing {
		return errClosing
	}
	c := s.card(in.CardID)
	if c == nil {
		return refuse(RejectNotFound, "no card %s in this incident", in.CardID)
	}
	if c.Status != card.StatusApplied || !c.Reversible || c.UndoAction == "" {
		return refuse(RejectConflict, "card %s cannot be undone (status %s, reversible %v)", in.CardID, c.Status, c.Reversible)
	}
	if s.undoing[c.ID] {
		return refuse(RejectConflict, "card %s is being undone already", in.CardID)
	}
	return s.checkPrincipal(in.Principal, c.Permission)
}

func (s *incidentState) undo(ctx workflow.Context, in UndoInput, via string) (DecideOutput, error) {
	c := s.card(in.CardID)
	c.Decisions = append(c.Decisions, card.Decision{Kind: card.DecisionUndo, Principal: in.Principal, At: workflow.Now(ctx), Comment: in.Comment, Via: via})
	s.audit(ctx, "decision", in.Principal, c.ID, map[string]any{"decision": card.DecisionUndo, "via": via})
	s.startUndo(c.ID, in.Principal)
	s.changed(ctx)
	return DecideOutput{Cards: []card.Card{*c}}, nil
}

func (s *incidentState) validateFeedback(_ workflow.Context, in FeedbackInput) error {
	if !s.g.Ready {
		return errNotReady
	}
	if s.card(in.CardID) == nil {
		return refuse(RejectNotFound, "no card %s in this incident", in.CardID)
	}
	if len(in.Reason) > 256 || len(in.Comment) > 4096 || len(in.FeedbackID) > 128 {
		return refuse(RejectInvalid, "feedback too long: reason at most 256, comment at most 4096, feedbackId at most 128 characters")
	}
	return s.checkPrincipal(in.Principal, permRead)
}

// feedback stores the feedback durably before it answers: the activity retries while Postgres is down.
func (s *incidentState) feedback(ctx workflow.Context, in FeedbackInput) (FeedbackOutput, error) {
	c := s.card(in.CardID)
	s.g.FeedbackCount++
	id := in.FeedbackID
	if id == "" {
		id = fmt.Sprintf("%s/%s/%s/%d", s.workflowID, in.CardID, in.Principal, s.g.FeedbackCount)
	}
	rec := activities.FeedbackRecord{
		FeedbackID: id, TenantID: s.current.TenantID, IncidentID: s.current.ID, CardID: c.ID,
		Action: c.Action, Category: c.Category, RuleID: c.RuleID, Principal: in.Principal,
		Helpful: in.Helpful, Reason: in.Reason, Comment: in.Comment, At: workflow.Now(ctx),
	}
	actx := workflow.WithActivityOptions(ctx, durableOptions(30*time.Second))
	var out activities.RecordFeedbackOutput
	if err := workflow.ExecuteActivity(actx, a.RecordFeedback, rec).Get(ctx, &out); err != nil {
		return FeedbackOutput{}, err
	}
	s.audit(ctx, "feedback", in.Principal, c.ID, map[string]any{"helpful": in.Helpful, "reason": in.Reason, "feedbackId": id})
	return FeedbackOutput{FeedbackID: id, Created: out.Created}, nil
}

// startApply applies an approved card's action in its own coroutine.
func (s *incidentState) startApply(id string) {
	s.inflight++
	workflow.Go(s.ctx, func(ctx workflow.Context) {
		defer func() { s.inflight--; s.changed(ctx) }()
		c := s.card(id)
		c.Status = card.StatusApplying
		s.changed(ctx)
		principal := c.Approvers[len(c.Approvers)-1]
		res, err := s.runAction(ctx, c, c.Action, c.Parameters, principal, "apply")
		c = s.card(id)
		c.Result = &res
		if err != nil {
			c.Status = card.StatusFailed
		} else {
			c.Status = card.StatusApplied
			if c.Reversible && c.TimeBox > 0 && c.UndoAction != "" {
				c.UndoAt = workflow.Now(ctx).Add(c.TimeBox)
			}
		}
		s.audit(ctx, "action", principal, c.ID, map[string]any{"action": c.Action, "status": c.Status, "connector": res.Connector, "externalId": res.ExternalID, "error": res.Error})
	})
}

// startUndo undoes an applied card's action in its own coroutine.
func (s *incidentState) startUndo(id, principal string) {
	s.inflight++
	s.undoing[id] = true
	workflow.Go(s.ctx, func(ctx workflow.Context) {
		defer func() { s.inflight--; delete(s.undoing, id); s.changed(ctx) }()
		c := s.card(id)
		params := undoParameters(c)
		res, err := s.runAction(ctx, c, c.UndoAction, params, principal, "undo")
		c = s.card(id)
		c.UndoResult = &res
		if err == nil {
			c.Status = card.StatusUndone
			c.UndoAt = time.Time{}
		} else if principal == systemPrincipal {
			// The time box could not be undone: leave the action in force and ask a human.
			c.UndoAt = time.Time{}
		}
		s.audit(ctx, "action", principal, c.ID, map[string]any{"action": c.UndoAction, "undo": true, "status": c.Status, "connector": res.Connector, "error": res.Error})
	})
}

// undoParameters carries what the undo needs from the applied action (e.g. the indicator to remove).
func undoParameters(c *card.Card) map[string]string {
	p := map[string]string{}
	for k, v := range c.Parameters {
		p[k] = v
	}
	if c.Result != nil && c.Result.ExternalID != "" {
		p["appliedExternalId"] = c.Result.ExternalID
	}
	return p
}

// runAction runs the ApplyAction activity with the policy's retries. The idempotency key is made here,
// from incident, card and action, so retries, worker crashes and duplicate approvals apply it once.
func (s *incidentState) runAction(ctx workflow.Context, c *card.Card, action card.Action, params map[string]string, principal, phase string) (card.Result, error) {
	entity, _ := s.entity(c)
	in := activities.ApplyActionInput{
		IdempotencyKey: s.workflowID + "/" + c.ID + "/" + string(action),
		TenantID:       s.current.TenantID,
		IncidentID:     s.current.ID,
		CardID:         c.ID,
		Action:         action,
		Permission:     c.Permission,
		Entity:         entity,
		Parameters:     params,
		Principal:      principal,
		Comment:        fmt.Sprintf("Guided response for incident %s: %s (%s)", s.current.ID, c.Title, phase),
	}
	target := c.ID
	if c.Entity != nil {
		target = c.Entity.Name + " (" + c.ID + ")"
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		Summary:             uiSummary(fmt.Sprintf("%s %s: %s", phase, action, target)),
		StartToCloseTimeout: s.g.Policy.ApplyTimeout,
		// The activity heartbeats at least every 20 s: a dead worker's action is retried within a minute.
		HeartbeatTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        2 * time.Minute,
			MaximumAttempts:        int32(max(1, s.g.Policy.ApplyAttempts)),
			NonRetryableErrorTypes: []string{activities.ErrTypeActionForbidden, activities.ErrTypeActionPermanent},
		},
	})
	var out activities.ApplyActionOutput
	err := workflow.ExecuteActivity(actx, a.ApplyAction, in).Get(ctx, &out)
	if err != nil {
		return card.Result{Connector: out.Result.Connector, Error: failureReason(err), FinishedAt: workflow.Now(ctx)}, err
	}
	return out.Result, nil
}

// failureReason is the root cause of an activity failure, for the analyst.
func failureReason(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "timed out: " + timeoutErr.Error()
	}
	return err.Error()
}

// entity is the full entity a card names.
func (s *incidentState) entity(c *card.Card) (incident.Entity, bool) {
	if c.Entity == nil {
		return incident.Entity{}, false
	}
	for _, e := range s.current.Entities() {
		if e.Key() == c.Entity.Key {
			return e, true
		}
	}
	return incident.Entity{}, false
}

// audit records an event durably in the background; its key makes retries and replays write it once.
func (s *incidentState) audit(ctx workflow.Context, kind, principal, cardID string, detail map[string]any) {
	s.auditSeq++
	ev := activities.AuditInput{
		EventKey:   fmt.Sprintf("%s/%s/%d", s.workflowID, workflow.GetInfo(ctx).WorkflowExecution.RunID, s.auditSeq),
		TenantID:   s.current.TenantID,
		IncidentID: s.current.ID,
		At:         workflow.Now(ctx),
		Principal:  principal,
		Kind:       kind,
		CardID:     cardID,
		Detail:     detail,
	}
	s.inflight++
	workflow.Go(s.ctx, func(ctx workflow.Context) {
		defer func() { s.inflight--; s.changed(ctx) }()
		actx := workflow.WithActivityOptions(ctx, durableOptions(30*time.Second))
		if err := workflow.ExecuteActivity(actx, a.RecordAudit, ev).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("audit event not recorded", "kind", kind, "error", err)
		}
	})
}

// runScheduler keeps the deadlines: approvals expire, time boxes end, the classification SLA escalates.
// One timer at a time, recomputed whenever the state changes.
func (s *incidentState) runScheduler(ctx workflow.Context) {
	for {
		now := workflow.Now(ctx)
		s.fireDue(ctx, now)
		next := s.nextDeadline()
		seen := s.version
		if next.IsZero() {
			_ = workflow.Await(ctx, func() bool { return s.version != seen })
			continue
		}
		_, _ = workflow.AwaitWithTimeout(ctx, next.Sub(now), func() bool { return s.version != seen })
	}
}

// runQuietScheduler is runScheduler (since the quiet-timers version) with one timer at a time: the timer
// for the next deadline stays while that deadline stays, and is cancelled when it moves. runScheduler's
// AwaitWithTimeout left its timer pending on every state change.
func (s *incidentState) runQuietScheduler(ctx workflow.Context) {
	var (
		timer   workflow.Future
		cancel  workflow.CancelFunc
		timerAt time.Time
	)
	for {
		now := workflow.Now(ctx)
		s.fireDue(ctx, now)
		next := s.nextDeadline()
		if timer != nil && (timer.IsReady() || !next.Equal(timerAt)) {
			if !timer.IsReady() {
				cancel()
			}
			timer, cancel = nil, nil
		}
		if timer == nil && !next.IsZero() {
			tctx, c := workflow.WithCancel(ctx)
			opts := workflow.TimerOptions{Summary: s.deadlineSummary(next)}
			timer, cancel, timerAt = workflow.NewTimerWithOptions(tctx, max(next.Sub(now), 0), opts), c, next
		}
		seen := s.version
		_ = workflow.Await(ctx, func() bool { return s.version != seen || (timer != nil && timer.IsReady()) })
	}
}

func (s *incidentState) slaDeadline() time.Time {
	if s.g.Classification != nil || s.g.Escalated {
		return time.Time{}
	}
	sla, ok := s.g.Policy.ClassificationSLA[s.current.Severity]
	if !ok || sla <= 0 {
		return time.Time{}
	}
	return s.current.CreatedAt.Add(sla)
}

// deadlineSummary names the deadline at t for the Temporal UI's timeline: which one, and of which card.
func (s *incidentState) deadlineSummary(t time.Time) string {
	if t.Equal(s.slaDeadline()) {
		return uiSummary(fmt.Sprintf("classification SLA (%s severity): escalate if unclassified", s.current.Severity))
	}
	for i := range s.g.Cards {
		c := &s.g.Cards[i]
		switch {
		case c.Status == card.StatusProposed && t.Equal(c.ExpiresAt):
			return uiSummary(fmt.Sprintf("approval expiry of %s (%s)", c.Action, c.ID))
		case c.Status == card.StatusApplied && t.Equal(c.UndoAt):
			return uiSummary(fmt.Sprintf("time box ends: undo %s (%s)", c.Action, c.ID))
		}
	}
	return "next deadline"
}

// uiSummary fits text for a summary the Temporal UI shows: one line of plain text, at most 200
// characters. Card titles and entity names come from the evidence (attacker-written), so markup is
// escaped as in the current details.
func uiSummary(text string) string {
	text = markdownText(text)
	if r := []rune(text); len(r) > 200 {
		text = string(r[:199]) + "…"
	}
	return text
}

func (s *incidentState) nextDeadline() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	consider(s.slaDeadline())
	for i := range s.g.Cards {
		c := &s.g.Cards[i]
		if c.Status == card.StatusProposed {
			consider(c.ExpiresAt)
		}
		if c.Status == card.StatusApplied && !s.undoing[c.ID] {
			consider(c.UndoAt)
		}
	}
	return next
}

func (s *incidentState) fireDue(ctx workflow.Context, now time.Time) {
	if d := s.slaDeadline(); !d.IsZero() && !now.Before(d) {
		s.g.Escalated = true
		s.audit(ctx, "escalation", systemPrincipal, "", map[string]any{
			"reason": fmt.Sprintf("not classified within the %s SLA for %s severity", s.g.Policy.ClassificationSLA[s.current.Severity], s.current.Severity),
		})
		workflow.GetLogger(ctx).Warn("incident escalated: not classified within its SLA", "severity", s.current.Severity)
		s.changed(ctx)
	}
	for i := range s.g.Cards {
		c := &s.g.Cards[i]
		if c.Status == card.StatusProposed && !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) {
			c.Status = card.StatusExpired
			s.audit(ctx, "expiry", systemPrincipal, c.ID, map[string]any{"action": c.Action, "approvals": len(c.Approvers)})
			s.changed(ctx)
		}
		if c.Status == card.StatusApplied && !c.UndoAt.IsZero() && !now.Before(c.UndoAt) && !s.undoing[c.ID] {
			s.startUndo(c.ID, systemPrincipal)
		}
	}
}

// expireProposals ends every open proposal: the incident was resolved at its source.
func (s *incidentState) expireProposals(ctx workflow.Context, reason string) {
	for i := range s.g.Cards {
		c := &s.g.Cards[i]
		if c.Status == card.StatusProposed && c.Category != card.CategoryTriage {
			c.Status = card.StatusExpired
			s.audit(ctx, "expiry", systemPrincipal, c.ID, map[string]any{"reason": reason})
		}
	}
	s.changed(ctx)
}

// closable: classified, and nothing left to decide, apply or undo.
func (s *incidentState) closable() bool {
	if !s.g.Ready || s.g.Classification == nil || s.inflight > 0 || len(s.undoing) > 0 {
		return false
	}
	for i := range s.g.Cards {
		c := &s.g.Cards[i]
		if c.Category == card.CategoryTriage {
			continue
		}
		if !c.Terminal() {
			return false
		}
	}
	return true
}

func (s *incidentState) pendingApprovals() int {
	n := 0
	for i := range s.g.Cards {
		c := &s.g.Cards[i]
		if c.Status == card.StatusProposed && c.Action.Applicable() {
			n++
		}
	}
	return n
}

// cardsFor is the cards query: every card, marked available or not for principal, with the reason.
func (s *incidentState) cardsFor(principal string) CardsOutput {
	out := CardsOutput{PlaybookVersion: s.g.PlaybookVersion, ModelVersion: s.g.ModelVersion, Ready: s.g.Ready}
	for _, c := range s.sortedCards() {
		v := CardView{Card: c, Available: true}
		perm := c.Permission
		if c.Category == card.CategoryTriage {
			perm = permClassify
		}
		if err := s.checkPrincipal(principal, perm); err != nil {
			v.Available, v.UnavailableReason = false, reasonOf(err)
		} else if c.Category != card.CategoryTriage && c.Status != card.StatusProposed && !(c.Status == card.StatusApplied && c.Reversible && c.UndoAction != "") {
			v.Available, v.UnavailableReason = false, "already "+string(c.Status)
		} else if slices.Contains(c.Approvers, principal) {
			v.Available, v.UnavailableReason = false, fmt.Sprintf("you approved it; four-eyes: waiting for %d more approver(s)", c.ApprovalsRequired-len(c.Approvers))
		}
		if v.Available && c.Unsupported != "" && c.Status == card.StatusProposed {
			v.CannotApply = c.Unsupported + "; reject it (apply it by hand first if it must be done)"
		}
		out.Cards = append(out.Cards, v)
	}
	return out
}

var categoryOrder = map[card.Category]int{card.CategoryTriage: 0, card.CategoryContainment: 1, card.CategoryInvestigation: 2, card.CategoryRemediation: 3}

// sortedCards orders cards as the analyst sees them: by category, then rank, then ID.
func (s *incidentState) sortedCards() []card.Card {
	cards := slices.Clone(s.g.Cards)
	sort.SliceStable(cards, func(i, j int) bool {
		a, b := cards[i], cards[j]
		if categoryOrder[a.Category] != categoryOrder[b.Category] {
			return categoryOrder[a.Category] < categoryOrder[b.Category]
		}
		if a.Rank != b.Rank {
			return a.Rank < b.Rank
		}
		return a.ID < b.ID
	})
	return cards
}

// cardsMarkdown shows the cards in the Temporal UI's current details.
func (s *incidentState) cardsMarkdown() string {
	var b strings.Builder
	if !s.g.Ready {
		return "_Preparing the guided response…_\n"
	}
	if s.g.Classification != nil {
		fmt.Fprintf(&b, "**Classified** %s / %s by %s\n\n", s.g.Classification.Classification, s.g.Classification.Determination, markdownText(s.g.Classification.Principal))
	} else if s.g.Escalated {
		b.WriteString("**Escalated:** not classified within its SLA\n\n")
	}
	b.WriteString("| | category | action | entity | status | id |\n|---|---|---|---|---|---|\n")
	for _, c := range s.sortedCards() {
		entity := ""
		if c.Entity != nil {
			entity = markdownText(c.Entity.Name)
		}
		title := markdownText(c.Title)
		if c.Triage != nil {
			title = fmt.Sprintf("Suggested: %s / %s (%.0f%%)", c.Triage.Classification, c.Triage.Determination, 100*c.Triage.Confidence)
			if c.Triage.Unsure {
				title = fmt.Sprintf("Unsure (%.0f%%): classify by hand", 100*c.Triage.Confidence)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | `%s` |\n", riskMark(c.Risk), c.Category, title, entity, c.Status, c.ID)
	}
	return b.String()
}

func riskMark(r card.Risk) string {
	switch r {
	case card.RiskHigh:
		return "▲"
	case card.RiskMedium:
		return "■"
	}
	return "·"
}
