// Package console is the analysts' web console: the incident queue and the incident page with its guided
// response pane (triage, containment, investigation and remediation cards, similar incidents, similar
// emails, feedback), as server-rendered HTML.
//
// This package holds the templates, the static assets and the view models. Everything is embedded in the
// binary: no CDN, no internet at run time. The one third-party asset is htmx (vendored from the npm
// registry, 0BSD, see static/vendor/ATTRIBUTION.md), which swaps fragments in place, disables a button
// while its request runs, and polls the pane while an action applies. Every page also works without
// JavaScript: forms post and redirect.
//
// The API process serves the console (api/console.go) through the same authentication, tenant confinement,
// RBAC and workflow Updates as the JSON API: the console has no access of its own.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/summary"
)

// Prefix is where the console is served.
const Prefix = "/console/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// HTMXConfig is htmx's configuration, in a meta element of every page: no eval (the CSP forbids it), no
// inline indicator styles (the CSP forbids those too), requests to this origin only, no history cache (it
// would keep incident data in localStorage), and refusals (4xx) swapped in like answers: they carry the
// pane with the reason.
const HTMXConfig = `{"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false,"selfRequestsOnly":true,` +
	`"historyCacheSize":0,"defaultSwapStyle":"outerHTML","responseHandling":[{"code":"204","swap":false},` +
	`{"code":"[23]..","swap":true},{"code":"401","swap":false,"error":true},{"code":"[45]..","swap":true,"error":false}]}`

// ContentSecurityPolicy is the console pages' CSP: scripts, styles and requests from this origin only.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Renderer renders the console's pages and fragments.
type Renderer struct {
	tmpl   *template.Template
	assets map[string]string // asset path -> content hash, for cache-busting URLs
	static fs.FS
}

// New parses the templates and indexes the static assets.
func New() (*Renderer, error) {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	r := &Renderer{assets: map[string]string{}, static: static}
	err = fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		r.assets[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, err
	}
	t, err := template.New("console").Funcs(r.funcs()).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	r.tmpl = t
	return r, nil
}

// Render writes the template name with data: rendered whole first, so that a template error answers 500
// rather than half a page.
func (r *Renderer) Render(w http.ResponseWriter, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := r.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "HX-Request, Cookie")
	// Links within the console keep their referrer (browsers then send Origin on form posts); other
	// sites get none.
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, err := io.Copy(w, &buf)
	return err
}

// Static serves the embedded assets under Prefix+"static/". An asset asked for with its current hash
// (?v=, as the templates link them) is cached for a year; otherwise for five minutes.
func (r *Renderer) Static() http.Handler {
	files := http.FileServerFS(r.static)
	return http.StripPrefix(Prefix+"static", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		name := strings.TrimPrefix(path.Clean(req.URL.Path), "/")
		hash, ok := r.assets[name]
		if !ok {
			http.NotFound(w, req)
			return
		}
		if req.URL.Query().Get("v") == hash {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, req)
	}))
}

// Asset is the URL of a static asset, with its content hash.
func (r *Renderer) Asset(name string) string {
	return Prefix + "static/" + name + "?v=" + r.assets[name]
}

func (r *Renderer) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":   r.Asset,
		"portal":  PortalName,
		"ago":     func(t time.Time) string { return Ago(time.Now(), t) },
		"when":    When,
		"percent": func(f float64) string { return fmt.Sprintf("%.0f%%", math.Round(f*100)) },
		"category": func(c card.Category) string {
			return categoryTitles[c]
		},
		"actionName": ActionName,
		"join":       strings.Join,
		"htmxConfig": func() string { return HTMXConfig },
		"cardData":   cardData,
		"entityGroup": func(title string, entities []summary.Entity) map[string]any {
			return map[string]any{"Title": title, "Entities": entities}
		},
	}
}

// valueNames are the portal's words for statuses and severities.
var valueNames = map[string]string{
	string(incident.StatusActive): "Active", string(incident.StatusInProgress): "In progress", string(incident.StatusNew): "New",
	string(incident.StatusAwaitingAction): "Awaiting action", string(incident.StatusResolved): "Resolved",
	string(incident.StatusRedirected): "Redirected", string(incident.StatusUnknown): "Unknown", "closed": "Closed",
	string(incident.SeverityHigh): "High", string(incident.SeverityMedium): "Medium", string(incident.SeverityLow): "Low",
	string(incident.SeverityInformational): "Informational",
}

var categoryTitles = map[card.Category]string{
	card.CategoryTriage:        "Triage",
	card.CategoryContainment:   "Containment",
	card.CategoryInvestigation: "Investigation",
	card.CategoryRemediation:   "Remediation",
}

// PortalName is the portal's word for a classification, determination or other Graph value, else the
// value itself.
func PortalName(v any) string {
	s := fmt.Sprint(v)
	if n, ok := incident.PortalNames[s]; ok {
		return n
	}
	if n, ok := valueNames[s]; ok {
		return n
	}
	return s
}

// ActionName is an action as the analyst reads it: "device.isolate" is "Isolate device".
func ActionName(a card.Action) string {
	if n, ok := actionNames[a]; ok {
		return n
	}
	return string(a)
}

var actionNames = map[card.Action]string{
	card.ActionDeviceIsolate:               "Isolate device",
	card.ActionDeviceRelease:               "Release device from isolation",
	card.ActionDeviceRestrictAppExecution:  "Restrict app execution",
	card.ActionDeviceRemoveAppRestriction:  "Remove app restriction",
	card.ActionDeviceRunAntivirusScan:      "Run antivirus scan",
	card.ActionDeviceCollectInvestigation:  "Collect investigation package",
	card.ActionDeviceLiveResponse:          "Initiate live response",
	card.ActionFileStopAndQuarantine:       "Stop and quarantine file",
	card.ActionIndicatorBlock:              "Block indicator",
	card.ActionIndicatorRemove:             "Remove indicator",
	card.ActionUserDisable:                 "Disable user",
	card.ActionUserEnable:                  "Enable user",
	card.ActionUserRevokeSessions:          "Revoke all sessions",
	card.ActionUserForcePasswordReset:      "Force password reset",
	card.ActionUserMarkCompromised:         "Mark user as compromised",
	card.ActionUserRequireSignIn:           "Require sign-in again",
	card.ActionEmailSoftDelete:             "Soft delete email",
	card.ActionEmailHardDelete:             "Hard delete email",
	card.ActionEmailMoveToJunk:             "Move email to junk",
	card.ActionEmailMoveToInbox:            "Move email to inbox",
	card.ActionEmailBlockSender:            "Block sender",
	card.ActionEmailUnblockSender:          "Unblock sender",
	card.ActionOAuthAppRevoke:              "Revoke OAuth app",
	card.ActionProcessKill:                 "Kill process",
	card.ActionInvestigateHunt:             "Advanced hunting query",
	card.ActionInvestigateTimeline:         "Review the timeline",
	card.ActionInvestigateSimilarEmails:    "View similar emails",
	card.ActionInvestigateSimilarIncidents: "View similar incidents",
	card.ActionTriageClassify:              "Classify",
}

// Ago says how long before now t was, in the largest unit: "3 min", "2 h", "5 d".
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
}

// When is a time as the page shows it: UTC, to the minute.
func When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// CardData is what the card and feedback templates get: the pane (its URLs and form token) and the card.
type CardData struct {
	Pane Pane
	Card CardVM
}

func cardData(p Pane, c any) (CardData, error) {
	switch v := c.(type) {
	case CardVM:
		return CardData{Pane: p, Card: v}, nil
	case *CardVM:
		return CardData{Pane: p, Card: *v}, nil
	}
	return CardData{}, fmt.Errorf("cardData: %T is not a card", c)
}
