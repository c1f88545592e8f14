package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/workflows"
)

// The decision bodies: the principal is never in them, it is who authenticated.
type (
	classificationBody struct {
		Classification incident.Classification `json:"classification"`
		Determination  incident.Determination  `json:"determination"`
		Comment        string                  `json:"comment,omitempty"`
	}
	decisionsBody struct {
		CardIDs  []string          `json:"cardIds"`
		Decision card.DecisionKind `json:"decision"`
		Comment  string            `json:"comment,omitempty"`
	}
	extendBody struct {
		By      string `json:"by"`
		Comment string `json:"comment,omitempty"`
	}
	undoBody struct {
		Comment string `json:"comment,omitempty"`
	}
	feedbackBody struct {
		FeedbackID string `json:"feedbackId,omitempty"`
		Helpful    *bool  `json:"helpful"`
		Reason     string `json:"reason,omitempty"`
		Comment    string `json:"comment,omitempty"`
	}
)

// decision is one decision ready for the workflow: the Update's name and input.
type decision struct {
	kind   string
	update string
	input  any
	result any
}

// newDecision turns a body of kind into the workflow's input for principal; card is the card of the URL
// (extend, undo, feedback).
func newDecision(kind, principal, cardID string, raw json.RawMessage) (decision, *Problem) {
	decode := func(v any) *Problem { return decodeRaw(raw, v) }
	switch kind {
	case "classify":
		var b classificationBody
		if p := decode(&b); p != nil {
			return decision{}, p
		}
		return decision{kind, workflows.MessageClassify, workflows.ClassifyInput{Principal: principal, Classification: b.Classification,
			Determination: b.Determination, Comment: b.Comment}, &workflows.ClassifyOutput{}}, nil
	case "decide":
		var b decisionsBody
		if p := decode(&b); p != nil {
			return decision{}, p
		}
		return decision{kind, workflows.MessageDecide, workflows.DecideInput{Principal: principal, CardIDs: b.CardIDs,
			Decision: b.Decision, Comment: b.Comment}, &workflows.DecideOutput{}}, nil
	case "extend":
		var b extendBody
		if p := decode(&b); p != nil {
			return decision{}, p
		}
		return decision{kind, workflows.MessageExtend, workflows.ExtendInput{Principal: principal, CardID: cardID, By: b.By,
			Comment: b.Comment}, &workflows.DecideOutput{}}, nil
	case "undo":
		var b undoBody
		if p := decode(&b); p != nil {
			return decision{}, p
		}
		return decision{kind, workflows.MessageUndo, workflows.UndoInput{Principal: principal, CardID: cardID, Comment: b.Comment},
			&workflows.DecideOutput{}}, nil
	case "feedback":
		var b feedbackBody
		if p := decode(&b); p != nil {
			return decision{}, p
		}
		if b.Helpful == nil {
			p := Unprocessable("helpful is required: true or false")
			return decision{}, &p
		}
		return decision{kind, workflows.MessageFeedback, workflows.FeedbackInput{FeedbackID: b.FeedbackID, Principal: principal,
			CardID: cardID, Helpful: *b.Helpful, Reason: b.Reason, Comment: b.Comment}, &workflows.FeedbackOutput{}}, nil
	}
	p := Unprocessable(fmt.Sprintf("kind %q: use classify, decide, extend, undo or feedback", kind))
	return decision{}, &p
}

// idempotencyKey takes the request's Idempotency-Key header (the IETF draft's, a string, quoted or not)
// as the feedback's ID: a client that retries after a timeout with the same key records its feedback
// once. A feedbackId in the body must then be the same.
func idempotencyKey(r *http.Request, d *decision) *Problem {
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if key == "" {
		return nil
	}
	fail := func(msg string) *Problem { p := Unprocessable(msg); return &p }
	if unquoted, err := strconv.Unquote(key); err == nil && strings.HasPrefix(key, `"`) {
		key = unquoted
	}
	if key == "" || len(key) > 128 || strings.IndexFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return fail("Idempotency-Key: give 1 to 128 printable ASCII characters without spaces (a UUID, say)")
	}
	in, ok := d.input.(workflows.FeedbackInput)
	if !ok {
		return nil
	}
	if in.FeedbackID != "" && in.FeedbackID != key {
		return fail("the body's feedbackId and the Idempotency-Key header differ: send one of them, or the same value")
	}
	in.FeedbackID = key
	d.input = in
	return nil
}

// decodeRaw decodes a JSON value strictly: unknown fields and trailing data are errors.
func decodeRaw(raw json.RawMessage, v any) *Problem { return DecodeJSONBytes(raw, v) }

// decide sends the decision to the incident's workflow as an Update and answers its result: 200 with the
// new state, or the validator's refusal as 403, 404, 409 or 422. The workflow is the only judge.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, workflowID string, d decision) {
	if p := s.send(r, workflowID, d); p != nil {
		WriteProblem(w, r, *p)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accepted": true, "result": d.result})
}

// send is decide without the answer: nil when the workflow accepted d (its result is in d.result), else
// the refusal.
func (s *Server) send(r *http.Request, workflowID string, d decision) *Problem {
	if err := s.sendErr(r, workflowID, d); err != nil {
		p := s.refusal(err)
		return &p
	}
	return nil
}

// sendErr sends d as an Update and answers the workflow's refusal or the failure as an error.
func (s *Server) sendErr(r *http.Request, workflowID string, d decision) error {
	ctx, cancel := s.temporalCtx(r)
	defer cancel()
	h, err := s.cfg.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: d.update, Args: []any{d.input}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, d.result)
	}
	s.metrics.ObserveDecision(d.kind, err == nil)
	return err
}

// sendFeedback sends feedback to the incident's workflow, or, once that has closed, stores it through a
// FeedbackWorkflow of its own (durable and keyed by the feedback ID): feedback is welcome after close too.
func (s *Server) sendFeedback(r *http.Request, c caller, tenant, id, workflowID string, d decision) *Problem {
	fail := func(p Problem) *Problem { return &p }
	in, ok := d.input.(workflows.FeedbackInput)
	if !ok {
		return fail(Internal())
	}
	err := s.sendErr(r, workflowID, d)
	var notFound *serviceerror.NotFound
	if err == nil {
		return nil
	}
	if !errors.As(err, &notFound) {
		p := s.refusal(err)
		return &p
	}
	// Closed: the same checks the workflow makes, then the feedback's own workflow.
	if len(in.Reason) > 256 || len(in.Comment) > 4096 || len(in.FeedbackID) > 128 {
		return fail(Unprocessable("feedback too long: reason at most 256, comment at most 4096, feedbackId at most 128 characters"))
	}
	var cards workflows.CardsOutput
	if p := s.queryInto(r, workflowID, workflows.QueryCards, workflows.CardsInput{Principal: c.ID}, &cards); p != nil {
		return p
	}
	i := slices.IndexFunc(cards.Cards, func(v workflows.CardView) bool { return v.ID == in.CardID })
	if i < 0 {
		return fail(NotFound(fmt.Sprintf("no card %s in this incident", in.CardID)))
	}
	found := cards.Cards[i]
	fid := in.FeedbackID
	if fid == "" {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return fail(Internal())
		}
		fid = "fb-" + hex.EncodeToString(b)
	}
	rec := activities.FeedbackRecord{
		FeedbackID: fid, TenantID: tenant, IncidentID: id, CardID: found.ID, Action: found.Action, Category: found.Category,
		RuleID: found.RuleID, Principal: c.ID, Helpful: in.Helpful, Reason: in.Reason, Comment: in.Comment, At: s.cfg.Now().UTC(),
	}
	ctx, cancel := s.temporalCtx(r)
	defer cancel()
	run, err := s.cfg.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.FeedbackWorkflowID(tenant, fid), TaskQueue: s.cfg.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
	}, workflows.FeedbackWorkflow, workflows.FeedbackWorkflowInput{Feedback: rec, Permission: rbac.PermSecurityDataRead})
	if err == nil {
		err = run.Get(ctx, d.result)
	}
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeActionForbidden {
			return fail(Forbidden(appErr.Message()))
		}
		s.cfg.Logger.Error("feedback after close", "error", err)
		return fail(Unavailable("Temporal did not answer; try again (the feedback ID makes a retry safe)"))
	}
	return nil
}

// refusal maps an Update's error to a problem.
func (s *Server) refusal(err error) Problem {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		switch appErr.Type() {
		case workflows.RejectForbidden:
			return Forbidden(appErr.Message())
		case workflows.RejectNotFound:
			return NotFound(appErr.Message())
		case workflows.RejectConflict:
			return Conflict(appErr.Message())
		case workflows.RejectInvalid:
			return Unprocessable(appErr.Message())
		case workflows.RejectNotReady:
			return Unavailable(appErr.Message())
		}
		return Unprocessable(appErr.Message())
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return Conflict("the incident is not open: it does not exist or its guided response has closed")
	}
	s.cfg.Logger.Error("update workflow", "error", err)
	return Unavailable("Temporal did not answer; try again (decisions are checked by the workflow, a retry is safe)")
}

// analystDecision handles the decision endpoints of API clients: feedback also once the incident has
// closed (through its own workflow), every other decision through the incident workflow's Update.
func (s *Server) analystDecision(w http.ResponseWriter, r *http.Request, kind string) {
	c, ok := s.authorize(w, r, rbac.PermSecurityDataRead)
	if !ok {
		return
	}
	tenant, id, wfID, ok := s.incidentRef(w, r, c)
	if !ok {
		return
	}
	var raw json.RawMessage
	if p := DecodeJSON(r, &raw, DefaultBodyLimit); p != nil {
		WriteProblem(w, r, *p)
		return
	}
	d, p := newDecision(kind, c.ID, r.PathValue("card"), raw)
	if p == nil && kind == "feedback" {
		p = idempotencyKey(r, &d)
	}
	if p != nil {
		WriteProblem(w, r, *p)
		return
	}
	if kind == "feedback" {
		p = s.sendFeedback(r, c, tenant, id, wfID, d)
	} else {
		p = s.send(r, wfID, d)
	}
	if p != nil {
		WriteProblem(w, r, *p)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accepted": true, "result": d.result})
}

func (s *Server) postClassification(w http.ResponseWriter, r *http.Request) {
	s.analystDecision(w, r, "classify")
}
func (s *Server) postDecisions(w http.ResponseWriter, r *http.Request) {
	s.analystDecision(w, r, "decide")
}
func (s *Server) postExtend(w http.ResponseWriter, r *http.Request) {
	s.analystDecision(w, r, "extend")
}
func (s *Server) postUndo(w http.ResponseWriter, r *http.Request) { s.analystDecision(w, r, "undo") }
func (s *Server) postFeedback(w http.ResponseWriter, r *http.Request) {
	s.analystDecision(w, r, "feedback")
}

// webhookBody is a decision posted by an external approval system.
type webhookBody struct {
	IncidentTenant string          `json:"incidentTenant"`
	IncidentID     string          `json:"incidentId"`
	Kind           string          `json:"kind"`
	CardID         string          `json:"cardId,omitempty"`
	Payload        json.RawMessage `json:"payload"`
}

// webhookDecision takes a signed decision from an approval system: the signature, the timestamp and the
// delivery ID are checked before anything else; the decision is the source's principal's, with that
// principal's permissions, in the source's tenant only.
func (s *Server) webhookDecision(w http.ResponseWriter, r *http.Request) {
	src, body, p := VerifyWebhook(r, s.cfg.Webhooks, s.cfg.Deliveries, s.cfg.Now(), DefaultBodyLimit)
	if p != nil {
		WriteProblem(w, r, *p)
		return
	}
	var b webhookBody
	if p := decodeRaw(body, &b); p != nil {
		WriteProblem(w, r, *p)
		return
	}
	if b.IncidentTenant != src.TenantID || !plainID(b.IncidentID) {
		WriteProblem(w, r, NotFound("no such incident"))
		return
	}
	if len(b.Payload) == 0 {
		WriteProblem(w, r, Unprocessable("payload is required: the decision's body"))
		return
	}
	d, p := newDecision(b.Kind, src.Principal, b.CardID, b.Payload)
	if p != nil {
		WriteProblem(w, r, *p)
		return
	}
	s.decide(w, r, workflows.IncidentWorkflowID(b.IncidentTenant, b.IncidentID), d)
}
