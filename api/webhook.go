package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/auth"
	"github.com/guided-response/guided/connector"
)

// Webhook headers, besides connector.HeaderTimestamp and connector.HeaderSignature.
const (
	// HeaderWebhookSource names the source when the URL does not ({source} in the path wins).
	HeaderWebhookSource = "X-Guided-Source"
	// HeaderWebhookDelivery is the delivery's unique ID: the same ID twice from a source is a replay.
	HeaderWebhookDelivery = "X-Guided-Delivery"
)

// WebhookMaxSkew is how far a webhook's timestamp may be from now, either way.
const WebhookMaxSkew = 5 * time.Minute

// DeliveryRetention is how long delivery IDs are remembered: far longer than WebhookMaxSkew, after
// which a replay is refused for its timestamp anyway.
const DeliveryRetention = 24 * time.Hour

// webhookRefused is the detail of every 401 of a webhook: an unknown source, a wrong signature and a
// stale timestamp are not told apart.
const webhookRefused = "the request's signature could not be verified: sign the timestamp and the raw body with the source's secret (X-Guided-Timestamp, X-Guided-Signature), within 5 minutes of sending"

// WebhookSource is an external system allowed to post decisions: an approval step of a ticketing tool,
// a chat approval button. Its decisions are attributed to Principal in TenantID, with that principal's
// permissions.
type WebhookSource struct {
	ID string
	// Secret is the shared HMAC-SHA256 key, at least connector.MinWebhookSecret bytes.
	Secret   []byte
	TenantID string
	// Principal is the principal the source's decisions are attributed to.
	Principal string
}

// Validate says what is wrong with a configured source.
func (s WebhookSource) Validate() error {
	if !validWebhookID(s.ID) {
		return fmt.Errorf("webhook source %q: the ID must be 1 to 128 characters of A-Z a-z 0-9 . _ : -", clipText(s.ID, 40))
	}
	if len(s.Secret) < connector.MinWebhookSecret {
		return fmt.Errorf("webhook source %s: the secret is %d bytes; use at least %d random bytes", s.ID, len(s.Secret), connector.MinWebhookSecret)
	}
	if s.TenantID == "" || s.Principal == "" {
		return fmt.Errorf("webhook source %s: a tenant and a principal are required (the decisions are that principal's)", s.ID)
	}
	return nil
}

// AsPrincipal is the principal the source's decisions are made as.
func (s WebhookSource) AsPrincipal() auth.Principal {
	return auth.Principal{TenantID: s.TenantID, ID: s.Principal, Via: "webhook:" + s.ID}
}

// DeliveryStore remembers the delivery IDs of webhook sources.
type DeliveryStore interface {
	// Remember records deliveryID of source at time at; fresh is false when it was recorded before.
	Remember(ctx context.Context, source, deliveryID string, at time.Time) (fresh bool, err error)
}

// PostgresDeliveries keeps delivery IDs in the table webhook_deliveries and deletes those older than
// DeliveryRetention now and then (at most every sweepEvery, during a Remember).
type PostgresDeliveries struct {
	db *sqlx.DB

	mu        sync.Mutex
	lastSweep time.Time
}

var _ DeliveryStore = (*PostgresDeliveries)(nil)

// sweepEvery is how often Remember deletes expired deliveries.
const sweepEvery = 10 * time.Minute

const (
	insertDelivery = `
INSERT INTO webhook_deliveries (source, delivery_id, received_at)
VALUES (:source, :delivery_id, :received_at)
ON CONFLICT (source, delivery_id) DO NOTHING`
	deleteDeliveries = `DELETE FROM webhook_deliveries WHERE received_at < :before`
)

type deliveryRow struct {
	Source     string    `db:"source"`
	DeliveryID string    `db:"delivery_id"`
	ReceivedAt time.Time `db:"received_at"`
}

// NewPostgresDeliveries returns a DeliveryStore over db, whose schema is migrated.
func NewPostgresDeliveries(db *sqlx.DB) *PostgresDeliveries {
	return &PostgresDeliveries{db: db}
}

// Remember implements DeliveryStore.
func (d *PostgresDeliveries) Remember(ctx context.Context, source, deliveryID string, at time.Time) (bool, error) {
	res, err := d.db.NamedExecContext(ctx, insertDelivery, deliveryRow{Source: source, DeliveryID: deliveryID, ReceivedAt: at.UTC()})
	if err != nil {
		return false, fmt.Errorf("remember delivery: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("remember delivery: %w", err)
	}
	d.sweep(ctx, at)
	return n == 1, nil
}

// sweep deletes deliveries older than DeliveryRetention, at most every sweepEvery. A failure is retried
// at the next Remember; it never fails the delivery.
func (d *PostgresDeliveries) sweep(ctx context.Context, now time.Time) {
	d.mu.Lock()
	if !d.lastSweep.IsZero() && now.Sub(d.lastSweep) < sweepEvery {
		d.mu.Unlock()
		return
	}
	d.lastSweep = now
	d.mu.Unlock()
	if _, err := d.Prune(ctx, now.Add(-DeliveryRetention)); err != nil {
		d.mu.Lock()
		d.lastSweep = time.Time{}
		d.mu.Unlock()
	}
}

// Prune deletes the deliveries received before before and says how many.
func (d *PostgresDeliveries) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := d.db.NamedExecContext(ctx, deleteDeliveries, map[string]any{"before": before.UTC()})
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return n, nil
}

// unknownSourceSecret keys the signature check of requests naming no configured source, so that they
// take as long as the others. Nothing it verifies is accepted.
var unknownSourceSecret = []byte("guided: no such webhook source, never accepted")

// VerifyWebhook checks a signed webhook request and returns its source and raw body; the caller then
// decodes the body and applies the decision as src.AsPrincipal().
//
// The source is the URL's {source} (r.PathValue), else the X-Guided-Source header. X-Guided-Timestamp
// (unix seconds), X-Guided-Signature ("sha256=" and hex, as connector.Sign makes it) and
// X-Guided-Delivery (1 to 128 characters of A-Z a-z 0-9 . _ : -) are required, once each: a malformed
// one answers 400. The body is read up to limit bytes (413 beyond). An unknown source, a wrong signature
// and a timestamp more than WebhookMaxSkew from now answer the same 401. Only once the signature
// verifies is the delivery recorded: a delivery ID used before, or the very same signed request under
// another delivery ID (the delivery header is not signed), answers 409.
func VerifyWebhook(r *http.Request, sources map[string]WebhookSource, deliveries DeliveryStore, now time.Time, limit int64) (src WebhookSource, body []byte, p *Problem) {
	fail := func(q Problem) (WebhookSource, []byte, *Problem) { return WebhookSource{}, nil, &q }

	sourceID := r.PathValue("source")
	headerSource, ok := singleHeader(r, HeaderWebhookSource)
	if !ok {
		return fail(BadRequest(HeaderWebhookSource + " is sent more than once"))
	}
	switch {
	case sourceID == "":
		sourceID = headerSource
	case headerSource != "" && headerSource != sourceID:
		return fail(BadRequest(HeaderWebhookSource + " differs from the source in the URL: send one or the same"))
	}
	if !validWebhookID(sourceID) {
		return fail(BadRequest("the webhook source is missing or malformed: name it in the URL (/v1/webhooks/{source}/decisions) as 1 to 128 characters of A-Z a-z 0-9 . _ : -"))
	}
	timestamp, ok := singleHeader(r, connector.HeaderTimestamp)
	if !ok || !validTimestamp(timestamp) {
		return fail(BadRequest(connector.HeaderTimestamp + " is required once: the unix time in seconds the request was signed at"))
	}
	signature, ok := singleHeader(r, connector.HeaderSignature)
	if !ok || !validSignature(signature) {
		return fail(BadRequest(connector.HeaderSignature + ` is required once: "sha256=" and the 64 lower-case hex digits of the HMAC-SHA256`))
	}
	delivery, ok := singleHeader(r, HeaderWebhookDelivery)
	if !ok || !validWebhookID(delivery) {
		return fail(BadRequest(HeaderWebhookDelivery + " is required once: the delivery's unique ID, 1 to 128 characters of A-Z a-z 0-9 . _ : -"))
	}

	if r.ContentLength > limit {
		return fail(TooLarge(limit))
	}
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(TooLarge(limit))
		}
		if err != nil {
			return fail(BadRequest("the body could not be read"))
		}
	}

	src, known := sources[sourceID]
	if src.ID == "" {
		src.ID = sourceID
	}
	secret := src.Secret
	if !known || len(secret) < connector.MinWebhookSecret || src.ID != sourceID {
		// Same work as a known source, same answer as a wrong signature.
		_ = connector.Verify(unknownSourceSecret, timestamp, body, signature, now, WebhookMaxSkew)
		return fail(webhookUnauthorized())
	}
	if err := connector.Verify(secret, timestamp, body, signature, now, WebhookMaxSkew); err != nil {
		return fail(webhookUnauthorized())
	}

	if deliveries == nil {
		return fail(Internal())
	}
	// The delivery header is not signed: the signature itself is remembered too (under a source name no
	// configured source can have), so a captured request is not replayed under a new delivery ID.
	for _, key := range [][2]string{{src.ID + "/signature", signature}, {src.ID, delivery}} {
		fresh, err := deliveries.Remember(r.Context(), key[0], key[1], now)
		if err != nil {
			return fail(Unavailable("the delivery could not be recorded; send it again"))
		}
		if !fresh {
			return fail(Conflict(fmt.Sprintf("delivery %s was already received: a replay, or a retry of a delivery that was taken", delivery)))
		}
	}
	return src, body, nil
}

// webhookUnauthorized is the one 401 of webhooks; it carries no Bearer challenge (webhooks sign, they do
// not present tokens).
func webhookUnauthorized() Problem {
	return newProblem(http.StatusUnauthorized, webhookRefused)
}

// singleHeader returns the header's value; ok is false when it is sent more than once.
func singleHeader(r *http.Request, name string) (string, bool) {
	vs := r.Header.Values(name)
	switch len(vs) {
	case 0:
		return "", true
	case 1:
		return vs[0], true
	}
	return "", false
}

// validWebhookID: 1 to 128 characters of [A-Za-z0-9._:-] (source and delivery IDs).
func validWebhookID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// validTimestamp: unix seconds, digits only, as connector.Verify takes them.
func validTimestamp(s string) bool {
	if len(s) == 0 || len(s) > 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validSignature: "sha256=" and 64 lower-case hex digits.
func validSignature(s string) bool {
	const prefix = "sha256="
	if len(s) != len(prefix)+64 || s[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
