package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/guided-response/guided/auth"
	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/console"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/workflows"
)

// The console's session: the analyst's bearer credential (an API token or an OpenID Connect ID token) in
// an HTTP-only cookie. Every request authenticates it again through the API's authenticator, so a revoked
// token or an expired JWT ends the session at once, and any API process can serve any request.
const (
	sessionCookie = "guided_session"
	// sessionMaxAge bounds the cookie; the credential's own expiry applies too.
	sessionMaxAge = 12 * 60 * 60
	// csrfHeader carries the form token on htmx requests; forms carry it as the field "csrf".
	csrfHeader = "X-CSRF-Token"
	// consoleFormLimit bounds a console form.
	consoleFormLimit = 64 << 10
	// maxCredential bounds the pasted token (JWTs of large directories run to a few KB).
	maxCredential = 8 << 10
)

// OIDCLogin starts and finishes an OpenID Connect sign-in for the console (auth.OIDCLogin).
type OIDCLogin interface {
	Start(w http.ResponseWriter, r *http.Request, next string)
	Finish(w http.ResponseWriter, r *http.Request) (idToken, next string, err error)
}

// consoleRoutes serves the console under console.Prefix.
func (s *Server) consoleRoutes(mux *http.ServeMux, limiter *RateLimiter) {
	session := func(h http.HandlerFunc) http.Handler {
		return Chain(h, s.consoleAuth, limiter.Middleware)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, console.Prefix, http.StatusSeeOther)
	})
	mux.Handle("GET /console/static/", s.console.Static())
	mux.HandleFunc("GET /console/sign-in", s.consoleSignInForm)
	mux.Handle("POST /console/sign-in", Chain(http.HandlerFunc(s.consoleSignIn), limiter.Middleware))
	mux.HandleFunc("POST /console/sign-out", s.consoleSignOut)
	mux.HandleFunc("GET /console/oidc/start", s.consoleOIDCStart)
	mux.HandleFunc("GET /console/oidc/callback", s.consoleOIDCCallback)
	mux.Handle("GET /console/{$}", session(s.consoleQueue))
	const inc = "/console/incidents/{tenant}/{id}"
	mux.Handle("GET "+inc, session(s.consoleIncident))
	mux.Handle("GET "+inc+"/pane", session(s.consolePane))
	mux.Handle("GET "+inc+"/similar", session(s.consoleSimilar))
	mux.Handle("GET "+inc+"/report", session(s.consoleReport))
	mux.Handle("POST "+inc+"/classify", session(s.consoleDecision("classify")))
	mux.Handle("POST "+inc+"/cards/{card}/decide", session(s.consoleDecision("decide")))
	mux.Handle("POST "+inc+"/cards/{card}/undo", session(s.consoleDecision("undo")))
	mux.Handle("POST "+inc+"/cards/{card}/extend", session(s.consoleDecision("extend")))
	mux.Handle("POST "+inc+"/cards/{card}/feedback", session(s.consoleDecision("feedback")))
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		s.consoleError(w, r, NotFound("there is no such page"))
	})
}

// isHTMX reports whether htmx sent the request (it swaps a fragment rather than loading a page).
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// consoleAuth authenticates the session cookie with the API's authenticator; without a valid one a page
// goes to the sign-in form, and a state-changing request must also carry the session's form token and come
// from this origin.
func (s *Server) consoleAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notePattern(r)
		cookie, err := r.Cookie(sessionCookie)
		if err != nil || cookie.Value == "" {
			s.toSignIn(w, r)
			return
		}
		authReq := r.Clone(r.Context())
		authReq.Header.Set("Authorization", "Bearer "+cookie.Value)
		p, err := s.cfg.Auth.Authenticate(r.Context(), authReq)
		if err == nil && (p.TenantID == "" || p.ID == "") {
			err = auth.ErrUnauthenticated
		}
		if err != nil {
			if errors.Is(err, auth.ErrUnavailable) || r.Context().Err() != nil {
				s.cfg.Logger.Error("console authentication unavailable", "request_id", RequestIDFrom(r.Context()), "error", err)
				s.consoleError(w, r, Unavailable("credentials cannot be checked now; try again"))
				return
			}
			s.cfg.Logger.Debug("console session refused", "request_id", RequestIDFrom(r.Context()), "error", err)
			clearSession(w, r)
			s.toSignIn(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if p := checkSameOrigin(r); p != nil {
				s.consoleError(w, r, *p)
				return
			}
			token := r.Header.Get(csrfHeader)
			if token == "" {
				r.Body = http.MaxBytesReader(w, r.Body, consoleFormLimit)
				token = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(token), []byte(csrfToken(cookie.Value))) != 1 {
				s.consoleError(w, r, Forbidden("the form is stale or was not sent by this console: reload the page and try again"))
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// csrfToken is the session's form token: derived from the credential, which the page's scripts never see
// (the cookie is HTTP-only), so another site can neither read nor forge it.
func csrfToken(credential string) string {
	sum := sha256.Sum256([]byte("guided-response console form token\x00" + credential))
	return base64.RawURLEncoding.EncodeToString(sum[:24])
}

// checkSameOrigin refuses a state-changing request another site made the browser send: Sec-Fetch-Site
// (sent by current browsers) must say this origin, else Origin, when sent, must name this host.
func checkSameOrigin(r *http.Request) *Problem {
	refuse := func() *Problem {
		p := Forbidden("cross-site requests are refused: use the console's own pages")
		return &p
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return nil
	case "":
	default:
		return refuse()
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return refuse()
		}
	}
	return nil
}

// toSignIn sends a visitor without a session to the sign-in form, and back here afterwards.
func (s *Server) toSignIn(w http.ResponseWriter, r *http.Request) {
	next := console.Prefix
	if r.Method == http.MethodGet {
		next = r.URL.RequestURI()
	}
	target := console.Prefix + "sign-in?next=" + url.QueryEscape(next)
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// localPath keeps next if it is a path of this site, else the queue: the sign-in never redirects away.
func localPath(next string) string {
	// Browsers read a backslash as "/" and drop tabs and newlines: none of those, nor other control characters.
	if next == "" || len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return console.Prefix
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, console.Prefix) {
		return console.Prefix
	}
	return next
}

func (s *Server) setSession(w http.ResponseWriter, r *http.Request, credential string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: credential, Path: "/console/", MaxAge: sessionMaxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/console/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

func (s *Server) signInPage(next, problem string) console.SignInPage {
	page := console.SignInPage{Layout: console.Layout{Title: "Sign in"}, Next: localPath(next), Problem: problem}
	if s.cfg.ConsoleOIDC != nil {
		page.OIDC = console.Prefix + "oidc/start?next=" + url.QueryEscape(page.Next)
	}
	return page
}

func (s *Server) consoleSignInForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "signin", s.signInPage(r.URL.Query().Get("next"), ""))
}

// consoleSignIn checks the pasted credential with the API's authenticator and keeps it in the session
// cookie. A credential that does not authenticate is refused with the same words whatever was wrong.
func (s *Server) consoleSignIn(w http.ResponseWriter, r *http.Request) {
	if p := checkSameOrigin(r); p != nil {
		s.consoleError(w, r, *p)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, consoleFormLimit)
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, "signin", s.signInPage("", "the form could not be read; try again"))
		return
	}
	next := r.PostFormValue("next")
	credential := strings.TrimSpace(r.PostFormValue("token"))
	credential = strings.TrimPrefix(credential, "Bearer ")
	if credential == "" || len(credential) > maxCredential || strings.ContainsAny(credential, " \t\r\n;,\"") {
		s.render(w, r, http.StatusUnauthorized, "signin", s.signInPage(next, "that is not a token: paste the whole API token or ID token"))
		return
	}
	authReq := r.Clone(r.Context())
	authReq.Header.Set("Authorization", "Bearer "+credential)
	p, err := s.cfg.Auth.Authenticate(r.Context(), authReq)
	if err == nil && (p.TenantID == "" || p.ID == "") {
		err = auth.ErrUnauthenticated
	}
	if err != nil {
		if errors.Is(err, auth.ErrUnavailable) {
			s.render(w, r, http.StatusServiceUnavailable, "signin", s.signInPage(next, "credentials cannot be checked now; try again"))
			return
		}
		s.cfg.Logger.Debug("console sign-in refused", "request_id", RequestIDFrom(r.Context()), "error", err)
		s.render(w, r, http.StatusUnauthorized, "signin", s.signInPage(next, "the token was not accepted: it is unknown, revoked or expired"))
		return
	}
	s.cfg.Logger.Info("console sign-in", "tenant", p.TenantID, "principal", p.ID, "via", p.Via)
	s.setSession(w, r, credential)
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
}

func (s *Server) consoleSignOut(w http.ResponseWriter, r *http.Request) {
	if p := checkSameOrigin(r); p != nil {
		s.consoleError(w, r, *p)
		return
	}
	clearSession(w, r)
	http.Redirect(w, r, console.Prefix+"sign-in", http.StatusSeeOther)
}

func (s *Server) consoleOIDCStart(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ConsoleOIDC == nil {
		s.consoleError(w, r, NotFound("OpenID Connect sign-in is not configured: sign in with a token"))
		return
	}
	s.cfg.ConsoleOIDC.Start(w, r, localPath(r.URL.Query().Get("next")))
}

// consoleOIDCCallback finishes an OpenID Connect sign-in: the ID token must also pass the API's own
// authenticator (issuer, audience, tenant and principal claims) before it becomes the session.
func (s *Server) consoleOIDCCallback(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ConsoleOIDC == nil {
		s.consoleError(w, r, NotFound("OpenID Connect sign-in is not configured: sign in with a token"))
		return
	}
	idToken, next, err := s.cfg.ConsoleOIDC.Finish(w, r)
	if err == nil {
		authReq := r.Clone(r.Context())
		authReq.Header.Set("Authorization", "Bearer "+idToken)
		var p auth.Principal
		if p, err = s.cfg.Auth.Authenticate(r.Context(), authReq); err == nil {
			s.cfg.Logger.Info("console sign-in", "tenant", p.TenantID, "principal", p.ID, "via", p.Via)
		}
	}
	if err != nil {
		s.cfg.Logger.Info("console OpenID Connect sign-in refused", "request_id", RequestIDFrom(r.Context()), "error", err)
		s.render(w, r, http.StatusUnauthorized, "signin", s.signInPage("", "the sign-in with your organisation did not succeed; try again or sign in with a token"))
		return
	}
	s.setSession(w, r, idToken)
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
}

// render writes a console template; a template error is a bug and answers 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	if err := s.console.Render(w, status, name, data); err != nil {
		s.cfg.Logger.Error("render console page", "template", name, "request_id", RequestIDFrom(r.Context()), "error", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
	}
}

// layout is the page frame for the signed-in caller.
func (s *Server) layout(r *http.Request, title string) console.Layout {
	l := console.Layout{Title: title}
	if p, ok := PrincipalFrom(r.Context()); ok {
		l.Principal, l.Tenant = p.ID, p.TenantID
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		l.CSRF = csrfToken(c.Value)
	}
	return l
}

// consoleError answers a problem as a page (or, to htmx, as the pane's message).
func (s *Server) consoleError(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Status < 400 || p.Status > 599 {
		p = Internal()
	}
	for k, vs := range p.header {
		w.Header()[k] = vs
	}
	heading := http.StatusText(p.Status)
	s.render(w, r, p.Status, "error", console.ErrorPage{Layout: s.layout(r, heading), Status: p.Status, Heading: heading, Detail: p.Detail})
}

// consoleRef is the incident the URL names, confined to the caller's tenant (another tenant's incident is
// answered like one that does not exist).
func (s *Server) consoleRef(r *http.Request) (c caller, tenant, id, workflowID string, p *Problem) {
	c, p = s.check(r, rbac.PermSecurityDataRead)
	if p != nil {
		return caller{}, "", "", "", p
	}
	tenant, id = r.PathValue("tenant"), r.PathValue("id")
	if tenant != c.TenantID || !plainID(id) {
		nf := NotFound("no such incident")
		return caller{}, "", "", "", &nf
	}
	return c, tenant, id, workflows.IncidentWorkflowID(tenant, id), nil
}

func incidentPath(tenant, id string) string {
	return console.Prefix + "incidents/" + url.PathEscape(tenant) + "/" + url.PathEscape(id)
}

// consoleQueue is the incident queue: the tenant's incidents, newest first, filtered.
func (s *Server) consoleQueue(w http.ResponseWriter, r *http.Request) {
	c, p := s.check(r, rbac.PermSecurityDataRead)
	if p != nil {
		s.consoleError(w, r, *p)
		return
	}
	q := r.URL.Query()
	filter := console.QueueFilter{Status: q.Get("status"), Severity: q.Get("severity"), Classification: q.Get("classification")}
	page := console.QueuePage{Layout: s.layout(r, "Incidents"), Filter: filter}
	page.StatusOptions, page.SeverityOptions, page.ClassificationOptions = console.FilterOptions(filter)
	params := filter.Query()
	if v := q.Get("cursor"); v != "" {
		params.Set("cursor", v)
	}
	items, next, p := s.list(r, c, params)
	if p != nil {
		page.Problem = p.Detail
		s.render(w, r, p.Status, "queue", page)
		return
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.IncidentID)
	}
	heads, err := s.cfg.Store.Headlines(r.Context(), c.TenantID, ids)
	if err != nil {
		s.cfg.Logger.Error("incident headlines", "error", err)
		heads = nil // the queue still lists the incidents, without titles
		page.Problem = "the store is unavailable: titles are missing; reload to try again"
	}
	for _, it := range items {
		row := console.QueueRow{URL: incidentPath(it.TenantID, it.IncidentID), IncidentID: it.IncidentID, Severity: it.Severity,
			Status: it.Status, Classification: it.Classification, PendingApprovals: it.PendingApprovals, Created: it.OpenedAt,
			Closed: it.ClosedAt != nil}
		if h, ok := heads[it.IncidentID]; ok {
			row.Title, row.Created = h.Title, h.CreatedAt
		}
		page.Rows = append(page.Rows, row)
	}
	console.SortNewestFirst(page.Rows)
	if next != "" {
		params.Set("cursor", next)
		page.Next = console.Prefix + "?" + params.Encode()
	}
	s.render(w, r, http.StatusOK, "queue", page)
}

// pane builds the guided response pane for the caller: the workflow's status and cards as the caller
// sees them, and the caller's feedback.
func (s *Server) pane(r *http.Request, c caller, tenant, id, wfID string) (console.Pane, workflows.StatusOutput, workflows.CardsOutput, *Problem) {
	var st workflows.StatusOutput
	if p := s.queryInto(r, wfID, workflows.QueryStatus, workflows.StatusInput{}, &st); p != nil {
		return console.Pane{}, st, workflows.CardsOutput{}, p
	}
	var cards workflows.CardsOutput
	if p := s.queryInto(r, wfID, workflows.QueryCards, workflows.CardsInput{Principal: c.ID}, &cards); p != nil {
		return console.Pane{}, st, cards, p
	}
	feedback, err := s.cfg.Store.ListFeedback(r.Context(), tenant, id)
	if err != nil {
		s.cfg.Logger.Error("list feedback", "error", err)
		feedback = nil // the pane still works; the analyst's earlier feedback is not shown
	}
	csrf := s.layout(r, "").CSRF
	return console.NewPane(incidentPath(tenant, id), csrf, cards, st, feedback, c.ID), st, cards, nil
}

func (s *Server) consoleIncident(w http.ResponseWriter, r *http.Request) {
	c, tenant, id, wfID, p := s.consoleRef(r)
	if p != nil {
		s.consoleError(w, r, *p)
		return
	}
	pane, st, cards, p := s.pane(r, c, tenant, id, wfID)
	if p != nil {
		s.consoleError(w, r, *p)
		return
	}
	var sum workflows.SummaryOutput
	if st.Ready || st.Phase == workflows.PhaseClosed {
		if p := s.queryInto(r, wfID, workflows.QuerySummary, workflows.SummaryInput{}, &sum); p != nil {
			s.consoleError(w, r, *p)
			return
		}
	}
	page := console.IncidentPage{
		Layout: s.layout(r, "Incident "+id), Base: incidentPath(tenant, id), IncidentID: id, Status: st, Story: sum.Story,
		Pane: pane, Closed: st.Phase == workflows.PhaseClosed, SimilarEmails: console.SimilarEmailsQuery(cards.Cards),
	}
	if s.cfg.UIBaseURL != "" {
		page.TemporalURL = workflows.UIWorkflowURL(s.cfg.UIBaseURL, s.cfg.Namespace, wfID)
	}
	s.render(w, r, http.StatusOK, "incident", page)
}

func (s *Server) consolePane(w http.ResponseWriter, r *http.Request) {
	c, tenant, id, wfID, p := s.consoleRef(r)
	if p != nil {
		s.consoleError(w, r, *p)
		return
	}
	pane, _, _, p := s.pane(r, c, tenant, id, wfID)
	if p != nil {
		s.consoleError(w, r, *p)
		return
	}
	s.render(w, r, http.StatusOK, "pane", pane.AsFragment())
}

// consoleSimilar is the "View similar incidents" tab: a fragment for htmx, a page otherwise.
func (s *Server) consoleSimilar(w http.ResponseWriter, r *http.Request) {
	_, tenant, id, _, p := s.consoleRef(r)
	if p != nil {
		s.consoleError(w, r, *p)
		return
	}
	panel := console.SimilarPanel{}
	status := http.StatusOK
	items, method, err := s.similarIncidents(r.Context(), tenant, id, 10)
	panel.Method = method
	if err != nil {
		s.cfg.Logger.Error("similar incidents", "error", err)
		panel.Problem, status = "the store is unavailable; try again", http.StatusServiceUnavailable
	}
	for _, it := range items {
		panel.Items = append(panel.Items, console.SimilarItem{SimilarIncident: it, URL: incidentPath(tenant, it.IncidentID)})
	}
	if isHTMX(r) {
		s.render(w, r, status, "similar", panel)
		return
	}
	s.render(w, r, status, "similarPage", map[string]any{
		"Layout": s.layout(r, "Similar incidents"), "Base": incidentPath(tenant, id), "IncidentID": id, "Panel": panel,
	})
}

func (s *Server) consoleReport(w http.ResponseWriter, r *http.Request) {
	_, tenant, id, _, p := s.consoleRef(r)
	if p != nil {
		s.consoleError(w, r, *p)
		return
	}
	rep, err := s.cfg.Store.GetReport(r.Context(), tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		s.consoleError(w, r, NotFound("no report yet: it is written when the incident closes"))
		return
	}
	if err != nil {
		s.cfg.Logger.Error("get report", "error", err)
		s.consoleError(w, r, Unavailable("the store is unavailable; try again"))
		return
	}
	s.render(w, r, http.StatusOK, "report", console.ReportPage{Layout: s.layout(r, "Report of incident "+id),
		Base: incidentPath(tenant, id), IncidentID: id, Markdown: rep.Markdown, CreatedAt: rep.CreatedAt})
}

// consoleDecision takes a decision from a console form: the form becomes the API's JSON body and goes
// through the same decoding and the same workflow Update as the API's decision endpoints. htmx gets the
// pane back with the outcome; a plain form post is redirected to the incident.
func (s *Server) consoleDecision(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, tenant, id, wfID, p := s.consoleRef(r)
		if p != nil {
			s.consoleError(w, r, *p)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, consoleFormLimit)
		if err := r.ParseForm(); err != nil {
			s.consoleError(w, r, BadRequest("the form could not be read; reload the page and try again"))
			return
		}
		cardID := r.PathValue("card")
		body, p := consoleBody(kind, cardID, r)
		var flash string
		if p == nil {
			var d decision
			var dp *Problem
			if d, dp = newDecision(kind, c.ID, cardID, body); dp != nil {
				p = dp
			} else if kind == "feedback" {
				p = s.sendFeedback(r, c, tenant, id, wfID, d)
			} else {
				p = s.send(r, wfID, d)
			}
			if p == nil {
				flash = consoleDone(kind, r)
			}
		}
		if !isHTMX(r) {
			if p != nil {
				s.consoleError(w, r, *p)
				return
			}
			http.Redirect(w, r, incidentPath(tenant, id), http.StatusSeeOther)
			return
		}
		pane, _, _, qp := s.pane(r, c, tenant, id, wfID)
		if qp != nil {
			// The decision's outcome stands; only the pane could not be read back.
			pane = console.Pane{Base: incidentPath(tenant, id), CSRF: s.layout(r, "").CSRF, Ready: false, Poll: true}
		}
		status := http.StatusOK
		if p != nil {
			status, pane.Flash, pane.FlashKind = p.Status, p.Detail, "error"
		} else {
			pane.Flash, pane.FlashKind = flash, "ok"
		}
		s.render(w, r, status, "pane", pane.AsFragment())
	}
}

// consoleBody turns a console form into the JSON body of the API's decision of kind.
func consoleBody(kind, cardID string, r *http.Request) (json.RawMessage, *Problem) {
	f := r.PostForm
	var body any
	switch kind {
	case "classify":
		body = classificationBody{Classification: incident.Classification(f.Get("classification")),
			Determination: incident.Determination(f.Get("determination")), Comment: f.Get("comment")}
	case "decide":
		body = decisionsBody{CardIDs: []string{cardID}, Decision: card.DecisionKind(f.Get("decision")), Comment: f.Get("comment")}
	case "undo":
		body = undoBody{Comment: f.Get("comment")}
	case "extend":
		body = extendBody{By: f.Get("by"), Comment: f.Get("comment")}
	case "feedback":
		helpful, err := strconv.ParseBool(f.Get("helpful"))
		if err != nil {
			p := Unprocessable("say whether the card was helpful: press Helpful or Not helpful")
			return nil, &p
		}
		body = feedbackBody{FeedbackID: f.Get("feedbackId"), Helpful: &helpful, Comment: f.Get("comment")}
	}
	b, err := json.Marshal(body)
	if err != nil {
		p := Internal()
		return nil, &p
	}
	return b, nil
}

// consoleDone is what the pane says after an accepted decision.
func consoleDone(kind string, r *http.Request) string {
	switch kind {
	case "classify":
		return "Classified."
	case "decide":
		if r.PostForm.Get("decision") == string(card.DecisionReject) {
			return "Dismissed."
		}
		return "Approved."
	case "undo":
		return "Undo requested."
	case "extend":
		return "Extended."
	case "feedback":
		return "Thank you: your feedback is recorded."
	}
	return "Done."
}
