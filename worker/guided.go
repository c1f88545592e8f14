package main

import (
	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/activities"
	"github.com/guided-response/guided/connector"
)

// newActivities builds the activities from the worker's configuration.
func newActivities(g guidedConfig, db *sqlx.DB, logger hclog.Logger) (*activities.Activities, error) {
	policy, err := g.policy()
	if err != nil {
		return nil, err
	}
	webhookActions := connector.ParseWebhookActions(g.WebhookActions)
	return activities.Build(activities.Config{
		PlaybookDir: g.PlaybookDir,
		Connectors: connector.Config{
			Mode: g.ConnectorMode, DefenderBaseURL: g.DefenderURL, GraphBaseURL: g.GraphURL, TokenURL: g.TokenURL,
			TenantID: g.AzureTenantID, ClientID: g.AzureClientID, ClientSecret: g.AzureSecret,
			WebhookURL: g.WebhookURL, WebhookSecret: g.WebhookSecret, WebhookActions: webhookActions,
		},
		LLMURL: g.LLMURL, LLMModel: g.LLMModel, LLMAPIKey: g.LLMAPIKey, LLMTimeout: g.LLMTimeout,
		TriageThreshold: g.TriageThreshold, ModelThreshold: g.ModelThreshold, Policy: &policy,
	}, db, logger)
}
