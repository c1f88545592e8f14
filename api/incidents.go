package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/guided-response/guided/auth"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/workflows"
)

// caller is the authenticated principal with its permissions, confined to its tenant.
type caller struct {
	auth.Principal
	access rbac.Principal
}

// authorize loads the caller's permissions and checks perm: 403 with the missing permission otherwise.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, perm rbac.Permission) (caller, bool) {
	c, p := s.check(r, perm)
	if p != nil {
		WriteProblem(w, r, *p)
		return caller{}, false
	}
	return c, true
}

// check is authorize without the answer: the API answers the problem as JSON, the console as a page.
func (s *Server) check(r *http.Request, perm rbac.Permission) (caller, *Problem) {
	fail := func(p Problem) (caller, *Problem) { return caller{}, &p }
	p, ok := PrincipalFrom(r.Context())
	if !ok {
		return fail(Unauthorized())
	}
	access, err := s.cfg.Access.Principal(r.Context(), p.TenantID, p.ID)
	if errors.Is(err, rbac.ErrNotFound) {
		return fail(Forbidden(fmt.Sprintf("principal %s is not known in tenant %s", p.ID, p.TenantID)))
	}
	if err != nil {
		s.cfg.Logger.Error("load principal", "error", err)
		return fail(Unavailable("the access store is unavailable; try again"))
	}
	if err := access.Check(perm); err != nil {
		return fail(Forbidden(err.Error()))
	}
	return caller{Principal: p, access: access}, nil
}

// incidentRef reads {tenant}/{id} and confines it to the caller's tenant: another tenant's incident is
// answered exactly like one that does not exist.
func (s *Server) incidentRef(w http.ResponseWriter, r *http.Request, c caller) (tenant, id, workflowID string, ok bool) {
	tenant, id = r.PathValue("tenant"), r.PathValue("id")
	if tenant != c.TenantID || !plainID(id) {
		WriteProblem(w, r, NotFound("no such incident"))
		return "", "", "", false
	}
	return tenant, id, workflows.IncidentWorkflowID(tenant, id), true
}

func plainID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:-", c)) {
			return false
		}
	}
	return true
}

// readIncident authorizes a read of the incident the URL names: the caller needs the read permission and
// the incident must be of its tenant.
func (s *Server) readIncident(w http.ResponseWriter, r *http.Request) (c caller, tenant, id, workflowID string, ok bool) {
	if c, ok = s.authorize(w, r, rbac.PermSecurityDataRead); !ok {
		return caller{}, "", "", "", false
	}
	tenant, id, workflowID, ok = s.incidentRef(w, r, c)
	return c, tenant, id, workflowID, ok
}

// ingested is one incident the ingest started or updated.
type ingested struct {
	TenantID   string `json:"tenantId"`
	IncidentID string `json:"incidentId"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	URL        string `json:"url,omitempty"`
}

// ingest takes Graph or native JSON, one incident or many, all of the caller's tenant: refused whole if
// any is invalid or foreign. Each incident starts its workflow or reaches the running one.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authorize(w, r, rbac.PermAlertsManage)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, IngestBodyLimit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		WriteProblem(w, r, TooLarge(IngestBodyLimit))
		return
	}
	if err != nil {
		WriteProblem(w, r, BadRequest("the body could not be read"))
		return
	}
	incs, err := incident.Parse("request body", body)
	if err != nil {
		p := Unprocessable("the incident document is invalid: fix every problem listed and send it again")
		var perrs incident.ParseErrors
		if errors.As(err, &perrs) {
			for _, pe := range perrs {
				p.Errors = append(p.Errors, FieldError{Field: pe.Path, Message: pe.Problem + fixSuffix(pe.Fix)})
			}
		} else {
			p.Detail = err.Error()
		}
		WriteProblem(w, r, p)
		return
	}
	for _, inc := range incs {
		if inc.TenantID != c.TenantID {
			WriteProblem(w, r, Forbidden(fmt.Sprintf("incident %s belongs to another tenant: a principal ingests its own tenant's incidents only", inc.ID)))
			return
		}
	}
	out := []ingested{}
	for i := range incs {
		inc := &incs[i]
		ctx, cancel := s.temporalCtx(r)
		res, err := workflows.TriggerIncident(ctx, s.cfg.Temporal, workflows.TriggerOptions{TaskQueue: s.cfg.TaskQueue}, inc)
		cancel()
		if errors.Is(err, workflows.ErrIncidentClosed) {
			WriteProblem(w, r, Conflict(fmt.Sprintf("incident %s was closed; its guided response is over", inc.ID)))
			return
		}
		if err != nil {
			s.cfg.Logger.Error("start incident workflow", "incident", inc.ID, "error", err)
			WriteProblem(w, r, Unavailable("Temporal did not take the incident; send it again (ingest is idempotent)"))
			return
		}
		item := ingested{TenantID: inc.TenantID, IncidentID: inc.ID, WorkflowID: res.WorkflowID, RunID: res.RunID}
		if s.cfg.UIBaseURL != "" {
			item.URL = workflows.UIWorkflowURL(s.cfg.UIBaseURL, s.cfg.Namespace, res.WorkflowID)
		}
		out = append(out, item)
	}
	resp := map[string]any{"items": out}
	// A page of a Graph list: the rest of the list is not here. Say where it is, for the caller to send.
	if next := incident.NextLink(body); next != "" {
		resp["nextLink"] = next
	}
	writeJSON(w, http.StatusAccepted, resp)
}

func fixSuffix(fix string) string {
	if fix == "" {
		return ""
	}
	return " (" + fix + ")"
}

// incidentItem is one incident of the list.
type incidentItem struct {
	TenantID         string     `json:"tenantId"`
	IncidentID       string     `json:"incidentId"`
	WorkflowID       string     `json:"workflowId"`
	Severity         string     `json:"severity"`
	Status           string     `json:"status"`
	Classification   string     `json:"classification,omitempty"`
	PendingApprovals int64      `json:"pendingApprovals"`
	OpenedAt         time.Time  `json:"openedAt"`
	ClosedAt         *time.Time `json:"closedAt,omitempty"`
}

// listIncidents lists the caller's tenant's incidents, newest first, from Temporal's visibility store
// (the search attributes the workflows keep), filtered by status, severity and classification.
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	c, ok := s.authorize(w, r, rbac.PermSecurityDataRead)
	if !ok {
		return
	}
	items, next, p := s.list(r, c, r.URL.Query())
	if p != nil {
		WriteProblem(w, r, *p)
		return
	}
	out := map[string]any{"items": items}
	if next != "" {
		out["next"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

// list answers a page of the caller's tenant's incidents for the parameters status, severity,
// classification, limit and cursor, and the cursor of the next page ("" on the last).
func (s *Server) list(r *http.Request, c caller, q url.Values) ([]incidentItem, string, *Problem) {
	fail := func(p Problem) ([]incidentItem, string, *Problem) { return nil, "", &p }
	clauses := []string{
		"WorkflowType = 'IncidentWorkflow'",
		fmt.Sprintf("%s = '%s'", workflows.SearchAttributeTenant.GetName(), c.TenantID), // validated to a safe alphabet
	}
	filters := []struct {
		param, attr string
		valid       func(string) bool
	}{
		{"status", workflows.SearchAttributeStatus.GetName(), func(v string) bool { return v == "closed" || incident.Status(v).Valid() }},
		{"severity", workflows.SearchAttributeSeverity.GetName(), func(v string) bool { return incident.Severity(v).Valid() }},
		{"classification", workflows.SearchAttributeClassification.GetName(), func(v string) bool { return incident.Classification(v).Valid() }},
	}
	for _, f := range filters {
		v := q.Get(f.param)
		if v == "" {
			continue
		}
		if !f.valid(v) {
			return fail(Unprocessable(fmt.Sprintf("%s %q is not a known value", f.param, v)))
		}
		clauses = append(clauses, fmt.Sprintf("%s = '%s'", f.attr, v))
	}
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return fail(Unprocessable("limit must be a number from 1 to 500"))
		}
		limit = n
	}
	var token []byte
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) > 4096 {
			return fail(Unprocessable("cursor is not one this API gave out"))
		}
		token = b
	}
	ctx, cancel := s.temporalCtx(r)
	defer cancel()
	resp, err := s.cfg.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.cfg.Namespace, PageSize: int32(limit), NextPageToken: token,
		// No ORDER BY: SQL visibility refuses it; it lists open incidents first, then the newest closed.
		Query: strings.Join(clauses, " AND "),
	})
	if err != nil {
		var invalid *serviceerror.InvalidArgument
		if errors.As(err, &invalid) && token != nil {
			return fail(Unprocessable("cursor is not one this API gave out"))
		}
		s.cfg.Logger.Error("list incidents", "error", err)
		return fail(Unavailable("Temporal did not answer; try again"))
	}
	items := []incidentItem{}
	seen := map[string]bool{}
	for _, e := range resp.Executions {
		id := e.GetExecution().GetWorkflowId()
		if seen[id] {
			continue // an earlier run of a reopened incident
		}
		seen[id] = true
		fields := e.GetSearchAttributes().GetIndexedFields()
		item := incidentItem{
			TenantID: keyword(fields, workflows.SearchAttributeTenant.GetName()), IncidentID: keyword(fields, workflows.SearchAttributeID.GetName()),
			WorkflowID: id, Severity: keyword(fields, workflows.SearchAttributeSeverity.GetName()),
			Status: keyword(fields, workflows.SearchAttributeStatus.GetName()), Classification: keyword(fields, workflows.SearchAttributeClassification.GetName()),
			PendingApprovals: integer(fields, workflows.SearchAttributePendingApprovals.GetName()),
			OpenedAt:         e.GetStartTime().AsTime(),
		}
		if ct := e.GetCloseTime(); ct != nil {
			t := ct.AsTime()
			item.ClosedAt = &t
		}
		items = append(items, item)
	}
	next := ""
	if len(resp.NextPageToken) > 0 {
		next = base64.RawURLEncoding.EncodeToString(resp.NextPageToken)
	}
	return items, next, nil
}

func keyword(fields map[string]*commonpb.Payload, name string) string {
	var v string
	if p, ok := fields[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

func integer(fields map[string]*commonpb.Payload, name string) int64 {
	var v int64
	if p, ok := fields[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

// query runs a workflow query and answers its result, or the right problem.
func (s *Server) query(w http.ResponseWriter, r *http.Request, workflowID, name string, in, out any) bool {
	if p := s.queryInto(r, workflowID, name, in, out); p != nil {
		WriteProblem(w, r, *p)
		return false
	}
	return true
}

// queryInto runs a workflow query into out: nil, or the problem to answer.
func (s *Server) queryInto(r *http.Request, workflowID, name string, in, out any) *Problem {
	fail := func(p Problem) *Problem { return &p }
	ctx, cancel := s.temporalCtx(r)
	defer cancel()
	resp, err := s.cfg.Temporal.QueryWorkflow(ctx, workflowID, "", name, in)
	var notFound *serviceerror.NotFound
	if err != nil && !errors.As(err, &notFound) && ctx.Err() == nil {
		// A query is read-only: one more try rides out a worker that was busy or restarting.
		resp, err = s.cfg.Temporal.QueryWorkflow(ctx, workflowID, "", name, in)
	}
	if err != nil {
		if errors.As(err, &notFound) {
			return fail(NotFound("no such incident"))
		}
		s.cfg.Logger.Error("query workflow", "query", name, "error", err)
		return fail(Unavailable("Temporal did not answer; try again"))
	}
	if err := resp.Get(out); err != nil {
		s.cfg.Logger.Error("decode query result", "query", name, "error", err)
		return fail(Internal())
	}
	return nil
}

// getIncident answers the incident as stored and its workflow's status.
func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	_, tenant, id, wfID, ok := s.readIncident(w, r)
	if !ok {
		return
	}
	var st workflows.StatusOutput
	if !s.query(w, r, wfID, workflows.QueryStatus, workflows.StatusInput{}, &st) {
		return
	}
	inc, err := s.cfg.Store.GetIncident(r.Context(), tenant, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.cfg.Logger.Error("get incident", "error", err)
		WriteProblem(w, r, Unavailable("the store is unavailable; try again"))
		return
	}
	out := map[string]any{"status": st, "workflowId": wfID}
	if inc != nil {
		out["incident"] = inc
	}
	if s.cfg.UIBaseURL != "" {
		out["temporalUrl"] = workflows.UIWorkflowURL(s.cfg.UIBaseURL, s.cfg.Namespace, wfID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getSummary(w http.ResponseWriter, r *http.Request) {
	_, _, _, wfID, ok := s.readIncident(w, r)
	if !ok {
		return
	}
	var out workflows.SummaryOutput
	if s.query(w, r, wfID, workflows.QuerySummary, workflows.SummaryInput{}, &out) {
		writeJSON(w, http.StatusOK, out)
	}
}

// getCards answers the cards as the caller sees them: each action available, or not and why.
func (s *Server) getCards(w http.ResponseWriter, r *http.Request) {
	c, _, _, wfID, ok := s.readIncident(w, r)
	if !ok {
		return
	}
	var out workflows.CardsOutput
	if s.query(w, r, wfID, workflows.QueryCards, workflows.CardsInput{Principal: c.ID}, &out) {
		writeJSON(w, http.StatusOK, out)
	}
}

// huntingQuery is one advanced-hunting query of the incident's cards.
type huntingQuery struct {
	CardID string `json:"cardId"`
	Title  string `json:"title"`
	Action string `json:"action"`
	Query  string `json:"query"`
}

func (s *Server) getHunting(w http.ResponseWriter, r *http.Request) {
	c, _, _, wfID, ok := s.readIncident(w, r)
	if !ok {
		return
	}
	var cards workflows.CardsOutput
	if !s.query(w, r, wfID, workflows.QueryCards, workflows.CardsInput{Principal: c.ID}, &cards) {
		return
	}
	out := []huntingQuery{}
	for _, cv := range cards.Cards {
		if cv.Query != "" {
			out = append(out, huntingQuery{CardID: cv.ID, Title: cv.Title, Action: string(cv.Action), Query: cv.Query})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (s *Server) getReport(w http.ResponseWriter, r *http.Request) {
	_, tenant, id, _, ok := s.readIncident(w, r)
	if !ok {
		return
	}
	rep, err := s.cfg.Store.GetReport(r.Context(), tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		WriteProblem(w, r, NotFound("no report yet: it is written when the incident closes"))
		return
	}
	if err != nil {
		s.cfg.Logger.Error("get report", "error", err)
		WriteProblem(w, r, Unavailable("the store is unavailable; try again"))
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/markdown") {
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		_, _ = io.WriteString(w, rep.Markdown)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"markdown": rep.Markdown, "report": rep.JSON, "createdAt": rep.CreatedAt})
}

// auditItem is one audit event as the API shows it.
type auditItem struct {
	ID         int64           `json:"id"`
	TenantID   string          `json:"tenantId"`
	IncidentID string          `json:"incidentId"`
	At         time.Time       `json:"at"`
	Principal  string          `json:"principal"`
	Kind       string          `json:"kind"`
	CardID     string          `json:"cardId,omitempty"`
	Detail     json.RawMessage `json:"detail,omitempty"`
	EventKey   string          `json:"eventKey"`
}

func (s *Server) getAudit(w http.ResponseWriter, r *http.Request) {
	_, tenant, id, _, ok := s.readIncident(w, r)
	if !ok {
		return
	}
	events, err := s.cfg.Store.ListAudit(r.Context(), tenant, id)
	if err != nil {
		s.cfg.Logger.Error("list audit", "error", err)
		WriteProblem(w, r, Unavailable("the store is unavailable; try again"))
		return
	}
	items := make([]auditItem, 0, len(events))
	for _, e := range events {
		items = append(items, auditItem{ID: e.ID, TenantID: e.TenantID, IncidentID: e.IncidentID, At: e.At, Principal: e.Principal,
			Kind: string(e.Kind), CardID: e.CardID, Detail: e.Detail, EventKey: e.EventKey})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// getSimilar lists the tenant's incidents most alike this one by the entities they share, with how
// they were classified and what was applied. The learning from previous investigations replaces this
// baseline with a trained embedding; the answer names the method.
func (s *Server) getSimilar(w http.ResponseWriter, r *http.Request) {
	_, tenant, id, _, ok := s.readIncident(w, r)
	if !ok {
		return
	}
	k := 10
	if v := r.URL.Query().Get("k"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			WriteProblem(w, r, Unprocessable("k must be a number from 1 to 100"))
			return
		}
		k = n
	}
	items, method, err := s.similarIncidents(r.Context(), tenant, id, k)
	if err != nil {
		s.cfg.Logger.Error("similar incidents", "error", err)
		WriteProblem(w, r, Unavailable("the store is unavailable; try again"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "method": method})
}
