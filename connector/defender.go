package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

// DefaultDefenderBaseURL is the Defender for Endpoint API. The docs also use api.security.microsoft.com
// (run antivirus scan, release from isolation) and regional hosts (us., eu., uk., au., swa., ina.
// api.security.microsoft.com); any of them can be configured.
const DefaultDefenderBaseURL = "https://api.securitycenter.microsoft.com"

// Machine action statuses (Defender for Endpoint machineAction.status).
const (
	MachineActionPending    = "Pending"
	MachineActionInProgress = "InProgress"
	MachineActionSucceeded  = "Succeeded"
	MachineActionFailed     = "Failed"
	MachineActionTimeOut    = "TimeOut"
	MachineActionCancelled  = "Cancelled"
)

const (
	defaultPollInterval = 10 * time.Second
	// maxPollErrors is how many polls in a row may fail (network, 5xx, 429) before Apply gives up and
	// returns the error; a retry of Apply then finds the action again ("already in progress").
	maxPollErrors = 5
)

// DefenderConfig configures the Defender for Endpoint connector.
type DefenderConfig struct {
	// BaseURL defaults to DefaultDefenderBaseURL; tests point it at a local server.
	BaseURL     string
	Credentials Credentials
	// Scope defaults to DefenderScope.
	Scope string
	// PollInterval is the wait between two polls of a machine action; default 10 s. The API allows 100
	// calls a minute.
	PollInterval time.Duration
	HTTPClient   *http.Client
	Logger       hclog.Logger
}

// DefenderEndpoint applies device actions (Defender for Endpoint machine actions), stop-and-quarantine of a
// file, and indicators (block / remove a file hash, IP, URL or domain).
//
// A machine action is posted, then polled (GET /api/machineactions/{id}) until it ends: Succeeded gives the
// action id as ExternalID; Failed, TimeOut and Cancelled give a permanent error. Every poll reports the
// status through progress, which the activity heartbeats with.
type DefenderEndpoint struct {
	api          *api
	pollInterval time.Duration
	logger       hclog.Logger
}

// NewDefenderEndpoint builds the connector; it fails when the credentials or URLs are incomplete.
func NewDefenderEndpoint(cfg DefenderConfig) (*DefenderEndpoint, error) {
	if err := cfg.Credentials.validate(); err != nil {
		return nil, fmt.Errorf("defender: %w", err)
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultDefenderBaseURL
	}
	if err := checkHTTPURL(base); err != nil {
		return nil, fmt.Errorf("defender: base URL: %w", err)
	}
	scope := cfg.Scope
	if scope == "" {
		scope = DefenderScope
	}
	logger := orNullLogger(cfg.Logger).Named("defender")
	client := orDefaultClient(cfg.HTTPClient)
	now := time.Now
	poll := cfg.PollInterval
	if poll <= 0 {
		poll = defaultPollInterval
	}
	return &DefenderEndpoint{
		api: &api{
			name: "defender", baseURL: strings.TrimRight(base, "/"), client: client, logger: logger, now: now,
			tokens: newTokenSource(cfg.Credentials, scope, client, logger, now),
		},
		pollInterval: poll,
		logger:       logger,
	}, nil
}

// machineActionPaths maps device actions to the machine action endpoint and the machineAction.type it
// creates.
var machineActionPaths = map[card.Action]struct{ path, kind string }{
	card.ActionDeviceIsolate:              {"isolate", "Isolate"},
	card.ActionDeviceRelease:              {"unisolate", "Unisolate"},
	card.ActionDeviceRestrictAppExecution: {"restrictCodeExecution", "RestrictCodeExecution"},
	card.ActionDeviceRemoveAppRestriction: {"unrestrictCodeExecution", "UnrestrictCodeExecution"},
	card.ActionDeviceRunAntivirusScan:     {"runAntiVirusScan", "RunAntiVirusScan"},
	card.ActionDeviceCollectInvestigation: {"collectInvestigationPackage", "CollectInvestigationPackage"},
	card.ActionFileStopAndQuarantine:      {"StopAndQuarantineFile", "StopAndQuarantineFile"},
}

// defenderUnsupported explains the actions on Defender's entities that it has no API for.
var defenderUnsupported = map[card.Action]string{
	card.ActionDeviceLiveResponse: "a live response session is interactive, in the Defender portal; the API " +
		"(runliveresponse) only runs library scripts, so the card is for the analyst",
	card.ActionProcessKill: "Defender for Endpoint has no API to end one process; apply file.stopAndQuarantine " +
		"to its image file instead",
}

// Name implements Connector.
func (d *DefenderEndpoint) Name() string { return "defender-endpoint" }

// Supports implements Connector.
func (d *DefenderEndpoint) Supports(a card.Action) bool {
	_, machine := machineActionPaths[a]
	return machine || a == card.ActionIndicatorBlock || a == card.ActionIndicatorRemove
}

// WhyUnsupported explains why Defender does not apply a, for the registry's error.
func (d *DefenderEndpoint) WhyUnsupported(a card.Action) string { return defenderUnsupported[a] }

// Apply implements Connector.
func (d *DefenderEndpoint) Apply(ctx context.Context, req Request, progress func(note string)) (Result, error) {
	if progress == nil {
		progress = noProgress
	}
	switch req.Action {
	case card.ActionIndicatorBlock:
		return d.blockIndicator(ctx, req)
	case card.ActionIndicatorRemove:
		return d.removeIndicator(ctx, req)
	}
	target, ok := machineActionPaths[req.Action]
	if !ok {
		if why := defenderUnsupported[req.Action]; why != "" {
			return Result{}, permanentf("defender: %s is not supported: %s", req.Action, why)
		}
		return Result{}, permanentf("defender: %s is not a Defender for Endpoint action", req.Action)
	}
	machineID, body, err := machineActionRequest(req)
	if err != nil {
		return Result{}, err
	}
	data, err := jsonBody(body)
	if err != nil {
		return Result{}, err
	}
	path := "/api/machines/" + url.PathEscape(machineID) + "/" + target.path
	d.logger.Info("posting machine action", "action", req.Action, "machine", machineID, "incident", req.IncidentID, "card", req.CardID)
	rep, err := d.api.do(ctx, call{method: http.MethodPost, path: path, body: data})
	if err != nil {
		if !alreadyInProgress(rep) {
			return Result{}, err
		}
		// The docs: "If you send multiple API calls ... for the same device, it returns 'pending machine
		// action' or HTTP 400 with the message 'Action is already in progress'" (live response calls it
		// ActiveRequestAlreadyExists). A retry of ours after a lost answer lands here: follow that action.
		d.logger.Info("machine action already in progress, following it", "action", req.Action, "machine", machineID)
		pending, found, lerr := d.findPending(ctx, machineID, target.kind)
		if lerr != nil {
			return Result{}, lerr
		}
		if !found {
			progress(fmt.Sprintf("%s: already in progress on the device", target.kind))
			return Result{Message: fmt.Sprintf("%s already in progress on machine %s (Defender answered 400 'already in progress'; no pending action found to follow)", target.kind, machineID)}, nil
		}
		return d.follow(ctx, pending, progress)
	}
	var action machineAction
	if err := json.Unmarshal(rep.body, &action); err != nil || action.ID == "" {
		return Result{}, &Error{StatusCode: rep.status, Message: fmt.Sprintf("defender: POST %s: the answer is not a machine action", path)}
	}
	return d.follow(ctx, action, progress)
}

// machineAction is the part of Defender's machineAction resource the connector reads.
type machineAction struct {
	ID                  string `json:"id"`
	Type                string `json:"type"`
	Status              string `json:"status"`
	MachineID           string `json:"machineId"`
	CreationDateTimeUTC string `json:"creationDateTimeUtc"`
}

// machineActionRequest returns the machine id and the documented body of a machine action request.
func machineActionRequest(req Request) (string, map[string]string, error) {
	body := map[string]string{"Comment": actionComment(req)}
	if req.Action == card.ActionFileStopAndQuarantine {
		f := req.Entity.File
		if req.Entity.Kind != incident.KindFile || f == nil {
			return "", nil, permanentf("defender: %s needs a file entity, got %q", req.Action, req.Entity.Kind)
		}
		machineID := firstNonEmpty(req.Parameters["mdeDeviceId"], f.MdeDeviceID)
		if machineID == "" {
			return "", nil, permanentf("defender: %s: the file entity has no mdeDeviceId (the device to stop it on); set file.mdeDeviceId or the card parameter mdeDeviceId", req.Action)
		}
		if !isHexLen(f.SHA1, 40) {
			return "", nil, permanentf("defender: %s: the file entity has no SHA-1 (40 hex digits); the API stops and quarantines by SHA-1 only", req.Action)
		}
		body["Sha1"] = strings.ToLower(f.SHA1)
		return machineID, body, nil
	}
	d := req.Entity.Device
	if req.Entity.Kind != incident.KindDevice || d == nil {
		return "", nil, permanentf("defender: %s needs a device entity, got %q", req.Action, req.Entity.Kind)
	}
	if d.MdeDeviceID == "" {
		return "", nil, permanentf("defender: %s: the device entity has no mdeDeviceId (the Defender for Endpoint machine id)", req.Action)
	}
	switch req.Action {
	case card.ActionDeviceIsolate:
		kind, err := oneOf(req, "isolationType", "Full", "Full", "Selective", "UnManagedDevice")
		if err != nil {
			return "", nil, err
		}
		body["IsolationType"] = kind
	case card.ActionDeviceRunAntivirusScan:
		kind, err := oneOf(req, "scanType", "Quick", "Quick", "Full")
		if err != nil {
			return "", nil, err
		}
		body["ScanType"] = kind
	}
	return d.MdeDeviceID, body, nil
}

// alreadyInProgress reports whether a 400 says the same machine action is already pending.
func alreadyInProgress(rep reply) bool {
	if rep.status != http.StatusBadRequest {
		return false
	}
	code, msg := errorBody(rep.body)
	return strings.EqualFold(code, "ActiveRequestAlreadyExists") ||
		strings.Contains(strings.ToLower(msg), "already in progress")
}

// findPending returns the newest Pending or InProgress action of the type on the machine.
func (d *DefenderEndpoint) findPending(ctx context.Context, machineID, kind string) (machineAction, bool, error) {
	filter := fmt.Sprintf("machineId eq %s and type eq %s", odataString(machineID), odataString(kind))
	path := "/api/machineactions?$filter=" + url.QueryEscape(filter)
	rep, err := d.api.do(ctx, call{method: http.MethodGet, path: path})
	if err != nil {
		return machineAction{}, false, err
	}
	var list struct {
		Value []machineAction `json:"value"`
	}
	if err := json.Unmarshal(rep.body, &list); err != nil {
		return machineAction{}, false, &Error{StatusCode: rep.status, Message: "defender: GET /api/machineactions: the answer is not a machine action list"}
	}
	var best machineAction
	var found bool
	for _, a := range list.Value {
		if a.ID == "" || (a.Status != MachineActionPending && a.Status != MachineActionInProgress) {
			continue
		}
		// ISO 8601 UTC timestamps of one format sort as strings.
		if !found || a.CreationDateTimeUTC > best.CreationDateTimeUTC {
			best, found = a, true
		}
	}
	return best, found, nil
}

// follow polls the action until it ends.
func (d *DefenderEndpoint) follow(ctx context.Context, action machineAction, progress func(string)) (Result, error) {
	note := func(a machineAction) {
		progress(fmt.Sprintf("machine action %s (%s): %s", a.ID, a.Type, a.Status))
	}
	note(action)
	wait := d.pollInterval
	failures := 0
	for !machineActionDone(action.Status) {
		if err := sleep(ctx, wait); err != nil {
			return Result{}, fmt.Errorf("defender: following machine action %s: %w", action.ID, err)
		}
		wait = d.pollInterval
		next, err := d.getAction(ctx, action.ID)
		if err != nil {
			failures++
			if ctx.Err() != nil || IsPermanent(err) || failures >= maxPollErrors {
				return Result{}, err
			}
			if ra, ok := RetryAfter(err); ok {
				wait = max(wait, ra)
			}
			d.logger.Warn("polling machine action failed, retrying", "id", action.ID, "error", err)
			progress(fmt.Sprintf("machine action %s (%s): %s; poll failed, retrying", action.ID, action.Type, action.Status))
			continue
		}
		failures = 0
		if next.Type == "" {
			next.Type = action.Type
		}
		action = next
		note(action)
	}
	if action.Status != MachineActionSucceeded {
		return Result{}, &Error{Permanent: true, Message: fmt.Sprintf("defender: machine action %s (%s) ended %s", action.ID, action.Type, action.Status)}
	}
	d.logger.Info("machine action succeeded", "id", action.ID, "type", action.Type)
	return Result{ExternalID: action.ID, Message: fmt.Sprintf("machine action %s %s", action.Type, action.Status)}, nil
}

func machineActionDone(status string) bool {
	switch status {
	case MachineActionSucceeded, MachineActionFailed, MachineActionTimeOut, MachineActionCancelled:
		return true
	}
	return false
}

func (d *DefenderEndpoint) getAction(ctx context.Context, id string) (machineAction, error) {
	path := "/api/machineactions/" + url.PathEscape(id)
	rep, err := d.api.do(ctx, call{method: http.MethodGet, path: path})
	if err != nil {
		return machineAction{}, err
	}
	var a machineAction
	if err := json.Unmarshal(rep.body, &a); err != nil || a.Status == "" {
		return machineAction{}, &Error{StatusCode: rep.status, Message: fmt.Sprintf("defender: GET %s: the answer is not a machine action", path)}
	}
	if a.ID == "" {
		a.ID = id
	}
	return a, nil
}

// indicator is the part of Defender's Indicator resource the connector writes and reads.
type indicator struct {
	ID             json.RawMessage `json:"id,omitempty"`
	IndicatorValue string          `json:"indicatorValue"`
	IndicatorType  string          `json:"indicatorType"`
	Action         string          `json:"action,omitempty"`
	Title          string          `json:"title,omitempty"`
	Description    string          `json:"description,omitempty"`
	Severity       string          `json:"severity,omitempty"`
	ExpirationTime string          `json:"expirationTime,omitempty"`
	GenerateAlert  *bool           `json:"generateAlert,omitempty"`
}

// id reads the indicator id, a string in the docs ("995").
func (i indicator) id() string { return jsonID(i.ID) }

// blockIndicator submits (creates or updates) an indicator: POST /api/indicators. The API keys indicators
// by value and type, so submitting again updates the same indicator.
func (d *DefenderEndpoint) blockIndicator(ctx context.Context, req Request) (Result, error) {
	value, kind, err := indicatorOf(req)
	if err != nil {
		return Result{}, err
	}
	action, err := oneOf(req, "indicatorAction", "Block", "Block", "BlockAndRemediate", "AlertAndBlock", "Warn", "Audit", "Alert")
	if err != nil {
		return Result{}, err
	}
	severity, err := oneOf(req, "severity", "High", "Informational", "Low", "Medium", "High")
	if err != nil {
		return Result{}, err
	}
	alert := true
	in := indicator{
		IndicatorValue: value,
		IndicatorType:  kind,
		Action:         action,
		Title:          clip("Guided response: block "+value, 200),
		Description:    actionComment(req),
		Severity:       severity,
		GenerateAlert:  &alert,
	}
	if v := req.Parameters["expirationTime"]; v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return Result{}, permanentf("defender: %s: parameter expirationTime %q is not an RFC 3339 time", req.Action, v)
		}
		in.ExpirationTime = t.UTC().Format(time.RFC3339)
	}
	data, err := jsonBody(in)
	if err != nil {
		return Result{}, err
	}
	d.logger.Info("submitting indicator", "type", kind, "action", action, "incident", req.IncidentID, "card", req.CardID)
	rep, err := d.api.do(ctx, call{method: http.MethodPost, path: "/api/indicators", body: data})
	if err != nil {
		return Result{}, err
	}
	var out indicator
	if err := json.Unmarshal(rep.body, &out); err != nil {
		return Result{}, &Error{StatusCode: rep.status, Message: "defender: POST /api/indicators: the answer is not an indicator"}
	}
	return Result{ExternalID: out.id(), Message: fmt.Sprintf("indicator %s %s: %s", kind, value, action)}, nil
}

// removeIndicator deletes the indicator: by the card parameter indicatorId (the ExternalID of the block),
// else by looking up the indicators with the entity's value and type. An indicator already gone is success.
func (d *DefenderEndpoint) removeIndicator(ctx context.Context, req Request) (Result, error) {
	ids := []string{}
	var value, kind string
	if id := req.Parameters["indicatorId"]; id != "" {
		ids = append(ids, id)
	} else {
		var err error
		value, kind, err = indicatorOf(req)
		if err != nil {
			return Result{}, err
		}
		filter := fmt.Sprintf("indicatorValue eq %s and indicatorType eq %s", odataString(value), odataString(kind))
		rep, err := d.api.do(ctx, call{method: http.MethodGet, path: "/api/indicators?$filter=" + url.QueryEscape(filter)})
		if err != nil {
			return Result{}, err
		}
		var list struct {
			Value []indicator `json:"value"`
		}
		if err := json.Unmarshal(rep.body, &list); err != nil {
			return Result{}, &Error{StatusCode: rep.status, Message: "defender: GET /api/indicators: the answer is not an indicator list"}
		}
		for _, in := range list.Value {
			// The filter is the server's; check the match here too.
			if id := in.id(); id != "" && strings.EqualFold(in.IndicatorValue, value) && strings.EqualFold(in.IndicatorType, kind) {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return Result{Message: fmt.Sprintf("no indicator %s %s to remove", kind, value)}, nil
		}
	}
	for _, id := range ids {
		path := "/api/indicators/" + url.PathEscape(id)
		rep, err := d.api.do(ctx, call{method: http.MethodDelete, path: path})
		if err != nil && rep.status != http.StatusNotFound {
			return Result{}, err
		}
		d.logger.Info("removed indicator", "id", id, "status", rep.status)
	}
	return Result{ExternalID: strings.Join(ids, ","), Message: fmt.Sprintf("removed indicator %s", strings.Join(ids, ", "))}, nil
}

// indicatorOf returns the indicator value and type of the entity: a file's SHA-256 (else SHA-1), an IP
// address, or a URL (a domain with the card parameter indicatorType=DomainName). The card parameter
// indicatorType picks among what the entity has.
func indicatorOf(req Request) (value, kind string, err error) {
	want := req.Parameters["indicatorType"]
	e := req.Entity
	switch {
	case e.Kind == incident.KindFile && e.File != nil:
		f := e.File
		switch {
		case (want == "" || want == "FileSha256") && isHexLen(f.SHA256, 64):
			return strings.ToLower(f.SHA256), "FileSha256", nil
		case (want == "" || want == "FileSha1") && isHexLen(f.SHA1, 40):
			return strings.ToLower(f.SHA1), "FileSha1", nil
		}
		return "", "", permanentf("defender: %s: the file entity has no %s hash", req.Action, firstNonEmpty(want, "SHA-256 or SHA-1"))
	case e.Kind == incident.KindIP && e.IP != nil && (want == "" || want == "IpAddress"):
		addr, perr := netip.ParseAddr(e.IP.Address)
		if perr != nil {
			return "", "", permanentf("defender: %s: %q is not an IP address (CIDR ranges are not supported)", req.Action, e.IP.Address)
		}
		return addr.Unmap().String(), "IpAddress", nil
	case e.Kind == incident.KindURL && e.URL != nil:
		u, perr := url.Parse(e.URL.URL)
		if perr != nil || u.Host == "" {
			return "", "", permanentf("defender: %s: %q is not an absolute URL", req.Action, e.URL.URL)
		}
		switch want {
		case "", "Url":
			return e.URL.URL, "Url", nil
		case "DomainName":
			return strings.ToLower(u.Hostname()), "DomainName", nil
		}
	}
	if want != "" {
		return "", "", permanentf("defender: %s: indicatorType %q does not fit a %q entity", req.Action, want, e.Kind)
	}
	return "", "", permanentf("defender: %s needs a file, IP or URL entity, got %q", req.Action, e.Kind)
}

// oneOf returns the card parameter name, def when it is not set, and a permanent error when it is none of
// allowed.
func oneOf(req Request, name, def string, allowed ...string) (string, error) {
	v := req.Parameters[name]
	if v == "" {
		return def, nil
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a, nil
		}
	}
	return "", permanentf("%s: parameter %s is %q; use one of %s", req.Action, name, v, strings.Join(allowed, ", "))
}

// actionComment is the comment that goes to the target: the approver's comment and where the action comes
// from.
func actionComment(req Request) string {
	origin := fmt.Sprintf("guided response: incident %s, card %s, approved by %s", req.IncidentID, req.CardID, req.Principal)
	if c := strings.TrimSpace(req.Comment); c != "" {
		return clip(c, 500) + " (" + origin + ")"
	}
	return origin
}

// odataString quotes s as an OData string literal.
func odataString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func isHexLen(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func orNullLogger(l hclog.Logger) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	return l
}

func orDefaultClient(c *http.Client) *http.Client {
	if c == nil {
		return &http.Client{Timeout: 30 * time.Second}
	}
	return c
}
