package connector

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

// Webhook headers.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderTimestamp is the unix time in seconds the request was signed at.
	HeaderTimestamp = "X-Guided-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, with the shared secret, of the timestamp, ".",
	// and the raw body.
	HeaderSignature = "X-Guided-Signature"
)

// signaturePrefix starts every signature.
const signaturePrefix = "sha256="

// MinWebhookSecret is the shortest shared secret accepted, in bytes.
const MinWebhookSecret = 16

// Errors of Verify.
var (
	ErrBadSignature   = errors.New("signature does not match")
	ErrStaleTimestamp = errors.New("timestamp outside the allowed skew")
)

// Sign returns the signature of body sent at timestamp (unix seconds, as sent in X-Guided-Timestamp):
// "sha256=" and the lower-case hex HMAC-SHA256, keyed with secret, of timestamp + "." + body.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signed request: timestamp must be unix seconds within maxSkew of now (either way), and
// signature exactly what Sign gives for secret, timestamp and body (compared in constant time). It returns
// nil, ErrStaleTimestamp, ErrBadSignature, or an error saying what is malformed.
func Verify(secret []byte, timestamp string, body []byte, signature string, now time.Time, maxSkew time.Duration) error {
	if len(secret) == 0 {
		return errors.New("verify: empty secret")
	}
	if maxSkew <= 0 {
		return errors.New("verify: maxSkew must be positive")
	}
	// Digits only, as Sign's callers write it: no sign, no spaces, no leading '+'.
	if timestamp == "" || len(timestamp) > 12 {
		return fmt.Errorf("verify: timestamp %q: want unix seconds", clip(timestamp, 20))
	}
	for i := 0; i < len(timestamp); i++ {
		if timestamp[i] < '0' || timestamp[i] > '9' {
			return fmt.Errorf("verify: timestamp %q: want unix seconds", clip(timestamp, 20))
		}
	}
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("verify: timestamp %q: want unix seconds", clip(timestamp, 20))
	}
	skew := now.Sub(time.Unix(secs, 0))
	if skew > maxSkew || skew < -maxSkew {
		return ErrStaleTimestamp
	}
	want := Sign(secret, timestamp, body)
	if subtle.ConstantTimeCompare([]byte(signature), []byte(want)) != 1 {
		return ErrBadSignature
	}
	return nil
}

// WebhookPayload is the JSON body the webhook connector posts.
type WebhookPayload struct {
	IdempotencyKey string            `json:"idempotencyKey"`
	TenantID       string            `json:"tenantId"`
	IncidentID     string            `json:"incidentId"`
	CardID         string            `json:"cardId"`
	Action         card.Action       `json:"action"`
	Entity         incident.Entity   `json:"entity"`
	Parameters     map[string]string `json:"parameters"`
	Principal      string            `json:"principal"`
	Comment        string            `json:"comment"`
	// Timestamp is when the request was signed (RFC 3339, UTC); the X-Guided-Timestamp header has the same
	// second.
	Timestamp time.Time `json:"timestamp"`
}

// WebhookConfig configures the webhook connector.
type WebhookConfig struct {
	URL    string
	Secret []byte
	// Actions limits the connector to these actions; empty means every applicable action.
	Actions    []card.Action
	HTTPClient *http.Client
	Logger     hclog.Logger
}

// Webhook applies any action through another tool: it posts a signed WebhookPayload to a URL. 2xx is
// success (ExternalID from the answer's "id"); 409 says the action was already applied, also success.
type Webhook struct {
	api     *api
	secret  []byte
	actions []card.Action
	logger  hclog.Logger
	now     func() time.Time
}

// NewWebhook builds the connector; it fails on a bad URL or a short secret.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if err := checkHTTPURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("webhook: URL: %w", err)
	}
	if len(cfg.Secret) < MinWebhookSecret {
		return nil, fmt.Errorf("webhook: the secret is %d bytes; use at least %d random bytes", len(cfg.Secret), MinWebhookSecret)
	}
	for _, a := range cfg.Actions {
		if !a.Applicable() {
			return nil, fmt.Errorf("webhook: action %q has nothing to apply", a)
		}
	}
	logger := orNullLogger(cfg.Logger).Named("webhook")
	return &Webhook{
		api: &api{
			name: "webhook", baseURL: cfg.URL, client: orDefaultClient(cfg.HTTPClient), logger: logger, now: time.Now,
			secrets: []string{string(cfg.Secret)},
		},
		secret:  slices.Clone(cfg.Secret),
		actions: slices.Clone(cfg.Actions),
		logger:  logger,
		now:     time.Now,
	}, nil
}

// Name implements Connector.
func (w *Webhook) Name() string { return "webhook" }

// Supports implements Connector.
func (w *Webhook) Supports(a card.Action) bool {
	return a.Applicable() && (len(w.actions) == 0 || slices.Contains(w.actions, a))
}

// Apply implements Connector.
func (w *Webhook) Apply(ctx context.Context, req Request, progress func(note string)) (Result, error) {
	if !w.Supports(req.Action) {
		return Result{}, permanentf("webhook: %s is not routed to this webhook", req.Action)
	}
	if req.IdempotencyKey == "" {
		return Result{}, permanentf("webhook: %s: the request has no idempotency key", req.Action)
	}
	now := w.now().UTC().Truncate(time.Second)
	params := req.Parameters
	if params == nil {
		params = map[string]string{}
	}
	body, err := jsonBody(WebhookPayload{
		IdempotencyKey: req.IdempotencyKey,
		TenantID:       req.TenantID,
		IncidentID:     req.IncidentID,
		CardID:         req.CardID,
		Action:         req.Action,
		Entity:         req.Entity,
		Parameters:     params,
		Principal:      req.Principal,
		Comment:        req.Comment,
		Timestamp:      now,
	})
	if err != nil {
		return Result{}, err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	header := http.Header{
		HeaderIdempotencyKey: {req.IdempotencyKey},
		HeaderTimestamp:      {ts},
		HeaderSignature:      {Sign(w.secret, ts, body)},
	}
	w.logger.Info("posting action", "action", req.Action, "incident", req.IncidentID, "card", req.CardID, "idempotency_key", req.IdempotencyKey)
	rep, err := w.api.do(ctx, call{method: http.MethodPost, body: body, header: header})
	if err != nil {
		if rep.status == http.StatusConflict {
			return Result{ExternalID: answerID(rep.body), Message: "already applied (HTTP 409)"}, nil
		}
		return Result{}, err
	}
	return Result{ExternalID: answerID(rep.body), Message: fmt.Sprintf("accepted (HTTP %d)", rep.status)}, nil
}

// answerID reads the "id" of a JSON answer, a string or a number.
func answerID(body []byte) string {
	var answer struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &answer) != nil || len(answer.ID) == 0 {
		return ""
	}
	return clip(scrub(jsonID(answer.ID)), 200)
}
