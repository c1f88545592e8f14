package connector

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

func newTestGraph(t *testing.T, f *fakeMicrosoft) *Graph {
	t.Helper()
	g, err := NewGraph(GraphConfig{BaseURL: f.server.URL, Credentials: f.creds()})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// invokeActionAnswer is the documented answer of invokeAction (the example's "value" wrapper included).
const invokeActionAnswer = `{"value":{"accountId":"256db173-930a-4991-9061-0d51a9a93ba5","action":"disable",` +
	`"provider":"activeDirectory","correlationId":"ed2f052b-2a01-4cd9-acb3-f6145f83e1a5"}}`

func TestGraphIdentityActionBodies(t *testing.T) {
	const aad, sid = "256db173-930a-4991-9061-0d51a9a93ba5", "S-1-5-21-1-2-3-1104"
	tests := []struct {
		action   card.Action
		params   map[string]string
		pathID   string
		body     map[string]any
		wantFail string
	}{
		{action: card.ActionUserDisable, pathID: aad, body: map[string]any{"accountId": aad, "action": "disable", "identityProvider": "entraID"}},
		{action: card.ActionUserEnable, pathID: aad, body: map[string]any{"accountId": aad, "action": "enable", "identityProvider": "entraID"}},
		{action: card.ActionUserForcePasswordReset, pathID: aad, body: map[string]any{"accountId": sid, "action": "forcePasswordReset", "identityProvider": "activeDirectory"}},
		{action: card.ActionUserRevokeSessions, pathID: aad, body: map[string]any{"accountId": aad, "action": "revokeAllSessions", "identityProvider": "entraID"}},
		{action: card.ActionUserRequireSignIn, pathID: aad, body: map[string]any{"accountId": aad, "action": "requireUserToSignInAgain", "identityProvider": "entraID"}},
		{action: card.ActionUserMarkCompromised, pathID: aad, body: map[string]any{"accountId": aad, "action": "markUserAsCompromised", "identityProvider": "entraID"}},
		{
			action: card.ActionUserDisable,
			params: map[string]string{"identityProvider": "ActiveDirectory", "identityAccountId": "0104216-0539-4838-88b1-55baafdc296b"},
			pathID: "0104216-0539-4838-88b1-55baafdc296b",
			body:   map[string]any{"accountId": sid, "action": "disable", "identityProvider": "activeDirectory"},
		},
		{
			action: card.ActionUserRevokeSessions,
			params: map[string]string{"identityProvider": "okta", "accountId": "00u1abcd"},
			pathID: aad,
			body:   map[string]any{"accountId": "00u1abcd", "action": "revokeAllSessions", "identityProvider": "okta"},
		},
		{action: card.ActionUserForcePasswordReset, params: map[string]string{"identityProvider": "entraID"}, wantFail: "does not support forcePasswordReset"},
		{action: card.ActionUserRevokeSessions, params: map[string]string{"identityProvider": "okta"}, wantFail: "accountId"},
	}
	for _, tt := range tests {
		t.Run(string(tt.action), func(t *testing.T) {
			f := newFakeMicrosoft(t)
			f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
				writeJSON(w, http.StatusOK, invokeActionAnswer)
			})
			res, err := newTestGraph(t, f).Apply(context.Background(), request(tt.action, hybridUserEntity(), tt.params), nil)
			if tt.wantFail != "" {
				if !IsPermanent(err) || !strings.Contains(err.Error(), tt.wantFail) {
					t.Fatalf("err = %v, want a permanent error about %s", err, tt.wantFail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			req := f.seen()[0]
			if want := "/v1.0/security/identities/identityAccounts/" + tt.pathID + "/invokeAction"; req.Method != http.MethodPost || req.Path != want {
				t.Errorf("%s %s, want POST %s", req.Method, req.Path, want)
			}
			if body := decodeBody(t, req.Body); !reflect.DeepEqual(body, tt.body) {
				t.Errorf("body = %v, want %v", body, tt.body)
			}
			if res.ExternalID != "ed2f052b-2a01-4cd9-acb3-f6145f83e1a5" {
				t.Errorf("ExternalID = %q, want the correlationId", res.ExternalID)
			}
		})
	}
}

func TestGraphIdentityActionNeedsAnID(t *testing.T) {
	f := newFakeMicrosoft(t)
	onPremOnly := incident.Entity{Kind: incident.KindUser, User: &incident.UserAccount{AccountName: "jdoe", UserSID: "S-1-5-21-1-2-3-1104"}}
	_, err := newTestGraph(t, f).Apply(context.Background(), request(card.ActionUserMarkCompromised, onPremOnly, nil), nil)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "azureAdUserId") {
		t.Fatalf("err = %v, want a permanent error naming user.azureAdUserId", err)
	}
	// An on-premises-only user can still be disabled in Active Directory.
	f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
		writeJSON(w, http.StatusOK, `{"correlationId":"c-2"}`)
	})
	res, err := newTestGraph(t, f).Apply(context.Background(), request(card.ActionUserDisable, onPremOnly, nil), nil)
	if err != nil || res.ExternalID != "c-2" {
		t.Fatalf("%+v, %v", res, err)
	}
	if body := decodeBody(t, f.seen()[0].Body); body["identityProvider"] != "activeDirectory" {
		t.Errorf("body = %v", body)
	}
}

func TestGraphEmailRemediationBody(t *testing.T) {
	tests := []struct {
		action card.Action
		want   string
	}{
		{card.ActionEmailSoftDelete, "softDelete"},
		{card.ActionEmailHardDelete, "hardDelete"},
		{card.ActionEmailMoveToJunk, "moveToJunk"},
		{card.ActionEmailMoveToInbox, "moveToInbox"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			f := newFakeMicrosoft(t)
			f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
				w.Header().Set("Location", `https://security.microsoft.com/action-center/history?filters={"bulkId":["b-123"]}&tid=`+testTenantID)
				w.Header().Set("Content-Type", "application/json;text/plain")
				w.WriteHeader(http.StatusAccepted)
			})
			res, err := newTestGraph(t, f).Apply(context.Background(), request(tt.action, messageEntity(), map[string]string{"severity": "High"}), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExternalID != "b-123" {
				t.Errorf("ExternalID = %q, want the bulkId", res.ExternalID)
			}
			req := f.seen()[0]
			if req.Method != http.MethodPost || req.Path != "/v1.0/security/collaboration/analyzedEmails/remediate" {
				t.Fatalf("%s %s", req.Method, req.Path)
			}
			var body struct {
				DisplayName          string `json:"displayName"`
				Description          string `json:"description"`
				Severity             string `json:"severity"`
				Action               string `json:"action"`
				RemediateSendersCopy *bool  `json:"remediateSendersCopy"`
				AnalyzedEmails       []struct {
					NetworkMessageID      string `json:"networkMessageId"`
					RecipientEmailAddress string `json:"recipientEmailAddress"`
				} `json:"analyzedEmails"`
			}
			dec := json.NewDecoder(strings.NewReader(string(req.Body)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&body); err != nil {
				t.Fatalf("body %s: %v", req.Body, err)
			}
			if body.Action != tt.want || body.Severity != "high" || body.DisplayName == "" ||
				!strings.Contains(body.Description, "analyst@contoso.com") || body.RemediateSendersCopy == nil || *body.RemediateSendersCopy {
				t.Errorf("body = %+v", body)
			}
			if len(body.AnalyzedEmails) != 1 || body.AnalyzedEmails[0].NetworkMessageID != "73ca4154-58d8-43d0-a890-08dc18c52e6d" ||
				body.AnalyzedEmails[0].RecipientEmailAddress != "hannah.jarvis@contoso.com" {
				t.Errorf("analyzedEmails = %+v", body.AnalyzedEmails)
			}
		})
	}
}

func TestGraphEmailNeedsRecipient(t *testing.T) {
	f := newFakeMicrosoft(t)
	e := messageEntity()
	e.AnalyzedMessage.RecipientEmailAddress = ""
	_, err := newTestGraph(t, f).Apply(context.Background(), request(card.ActionEmailSoftDelete, e, nil), nil)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "recipientEmailAddress") {
		t.Fatalf("err = %v", err)
	}
}

func TestGraphRevokeOAuthApp(t *testing.T) {
	f := newFakeMicrosoft(t)
	f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) { w.WriteHeader(http.StatusNoContent) })
	app := incident.Entity{Kind: incident.KindOAuthApplication, OAuthApplication: &incident.OAuthApplication{
		AppID: "00000003-0000-0ff1-ce00-000000000000", DisplayName: "Mail Sync Pro",
	}}
	res, err := newTestGraph(t, f).Apply(context.Background(), request(card.ActionOAuthAppRevoke, app, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := f.seen()[0]
	if req.Method != http.MethodPatch || req.Path != "/v1.0/servicePrincipals(appId='00000003-0000-0ff1-ce00-000000000000')" {
		t.Errorf("%s %s", req.Method, req.Path)
	}
	if body := decodeBody(t, req.Body); !reflect.DeepEqual(body, map[string]any{"accountEnabled": false}) {
		t.Errorf("body = %v", body)
	}
	if res.ExternalID != app.OAuthApplication.AppID {
		t.Errorf("ExternalID = %q", res.ExternalID)
	}
	bad := incident.Entity{Kind: incident.KindOAuthApplication, OAuthApplication: &incident.OAuthApplication{AppID: "x') or ('1"}}
	if _, err := newTestGraph(t, f).Apply(context.Background(), request(card.ActionOAuthAppRevoke, bad, nil), nil); !IsPermanent(err) {
		t.Errorf("a non-GUID appId: err = %v, want permanent", err)
	}
}

func TestGraphBlockSenderUnsupported(t *testing.T) {
	f := newFakeMicrosoft(t)
	g := newTestGraph(t, f)
	if g.Supports(card.ActionEmailBlockSender) {
		t.Error("Graph claims to support email.blockSender")
	}
	_, err := g.Apply(context.Background(), request(card.ActionEmailBlockSender, messageEntity(), nil), nil)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "allow/block") {
		t.Fatalf("err = %v, want a permanent error explaining why", err)
	}
	if len(f.seen()) != 0 {
		t.Error("a request went out")
	}
}

func TestGraphErrorMapping(t *testing.T) {
	f := newFakeMicrosoft(t)
	f.handle(func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Retry-After", "3")
		writeJSON(w, http.StatusTooManyRequests, `{"error":{"code":"TooManyRequests","message":"Too many requests","innerError":{"date":"2024-05-01T10:00:00"}}}`)
	})
	_, err := newTestGraph(t, f).Apply(context.Background(), request(card.ActionUserDisable, hybridUserEntity(), nil), nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Permanent || ce.RetryAfter.Seconds() != 3 || !strings.Contains(ce.Message, "TooManyRequests") {
		t.Fatalf("err = %#v", err)
	}
}
