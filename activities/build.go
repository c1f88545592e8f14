package activities

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/playbook"
	"github.com/guided-response/guided/rbac"
	"github.com/guided-response/guided/store"
	"github.com/guided-response/guided/summary"
)

// Config configures the activities' dependencies: playbooks, connectors, the LLM narrative, the policy.
type Config struct {
	// PlaybookDir is watched for playbook files; empty uses the built-in set.
	PlaybookDir string
	Connectors  connector.Config
	// LLMURL, when set, is an OpenAI-compatible endpoint for the narrative.
	LLMURL, LLMModel, LLMAPIKey string
	LLMTimeout                  time.Duration
	TriageThreshold             float64
	// ModelThreshold is the trained triage model's confidence threshold; 0 uses each model's own
	// (chosen on its held-out incidents for an answered precision of 0.92).
	ModelThreshold float64
	// Policy is the guided response's policy; nil is DefaultPolicy with HighRiskApprovals approvers of a
	// high-risk action.
	Policy            *Policy
	HighRiskApprovals int
}

// Build makes the activities with their dependencies.
func Build(g Config, db *sqlx.DB, logger hclog.Logger) (*Activities, error) {
	st := store.New(db, logger.Named("store"))
	lib, err := playbook.NewLibrary(playbook.LibraryConfig{Dir: g.PlaybookDir, Logger: logger.Named("playbooks")})
	if err != nil {
		return nil, err
	}
	registry, err := connector.Build(g.Connectors, DryRunRecorder{Store: st}, &http.Client{Timeout: 2 * time.Minute}, logger.Named("connectors"))
	if err != nil {
		return nil, fmt.Errorf("connectors: %w", err)
	}
	var llm *summary.LLM
	if g.LLMURL != "" {
		llm = &summary.LLM{BaseURL: g.LLMURL, Model: g.LLMModel, APIKey: g.LLMAPIKey, Timeout: g.LLMTimeout, Logger: logger.Named("llm")}
	}
	policy := DefaultPolicy()
	if g.Policy != nil {
		policy = *g.Policy
	} else {
		policy.RequiredApprovals[card.RiskHigh] = max(1, g.HighRiskApprovals)
	}
	return &Activities{
		Store:           st,
		Logger:          logger.Named("activities"),
		Access:          rbac.New(db, logger.Named("rbac")),
		Playbooks:       lib,
		Connectors:      registry,
		LLM:             llm,
		Policy:          policy,
		TriageThreshold: g.TriageThreshold,
		Models:          NewTriageModels(st),
		ModelThreshold:  g.ModelThreshold,
	}, nil
}
