package activities

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/connector"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/internal/incidentgen"
	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/learn"
	"github.com/guided-response/guided/playbook"
	"github.com/guided-response/guided/store"
)

// After an upgrade that changes the model format, the stored model cannot be read: cards are still
// made, with the playbooks' rules suggesting the triage, until a model this build reads is trained.
func TestUnreadableModelFallsBackToRules(t *testing.T) {
	ctx := context.Background()
	st := store.New(pgtest.MigratedDB(t), hclog.NewNullLogger())
	old := learn.ModelVersion + "-20250101T000000Z"
	if err := st.SaveModel(ctx, store.Model{Kind: ModelKindTriage, Version: old,
		Body: []byte(`{"version":"triage-gbdt-v0","features":{"version":"features-v1"}}`)}); err != nil {
		t.Fatal(err)
	}
	lib, err := playbook.NewLibrary(playbook.LibraryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{Store: st, Models: NewTriageModels(st), Playbooks: lib, Logger: hclog.NewNullLogger(),
		Policy: DefaultPolicy(), TriageThreshold: 0.7}
	if _, _, err := a.Models.Get(ctx, ""); !errors.Is(err, ErrModelUnreadable) {
		t.Fatalf("Get = %v, want ErrModelUnreadable", err)
	}
	gen, err := incidentgen.New(incidentgen.Options{RunID: "t", Seed: 1, Now: time.Unix(1_800_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	inc, _ := gen.Next()
	// The latest model, and one a running workflow pinned before the upgrade.
	for _, pinned := range []string{"", old} {
		out, err := a.GenerateCards(ctx, GenerateCardsInput{Incident: inc, ModelVersion: pinned})
		if err != nil {
			t.Fatalf("pinned %q: %v", pinned, err)
		}
		if len(out.Cards) < 2 || out.Cards[0].Category != card.CategoryTriage || IsTrainedVersion(out.ModelVersion) {
			t.Fatalf("pinned %q: triage by %q over %d cards", pinned, out.ModelVersion, len(out.Cards))
		}
	}
}

// TestGenerateCardsMarksActionsNoConnectorApplies: in live mode without the webhook, Graph has no API to
// block a sender, so that card says so (Unsupported) and the others do not; a dry run applies everything.
func TestGenerateCardsMarksActionsNoConnectorApplies(t *testing.T) {
	ctx := context.Background()
	st := store.New(pgtest.MigratedDB(t), hclog.NewNullLogger())
	lib, err := playbook.NewLibrary(playbook.LibraryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	incs, err := incident.ParseFile("../incident/testdata/graph_incident_multi.json")
	if err != nil {
		t.Fatal(err)
	}
	live, err := connector.Build(connector.Config{Mode: connector.ModeLive, TenantID: "t", ClientID: "c", ClientSecret: "s"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dry, err := connector.Build(connector.Config{}, DryRunRecorder{Store: st}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, reg := range map[string]*connector.Registry{"live": live, "dry-run": dry} {
		a := &Activities{Store: st, Playbooks: lib, Logger: hclog.NewNullLogger(), Policy: DefaultPolicy(), TriageThreshold: 0.7, Connectors: reg}
		out, err := a.GenerateCards(ctx, GenerateCardsInput{Incident: incs[0]})
		if err != nil {
			t.Fatal(err)
		}
		blockSender, others := 0, 0
		for _, c := range out.Cards {
			switch {
			case c.Action == card.ActionEmailBlockSender:
				blockSender++
				if name == "live" && !strings.Contains(c.Unsupported, "no connector applies email.blockSender") {
					t.Errorf("live: block sender card unsupported %q", c.Unsupported)
				}
				if name == "dry-run" && c.Unsupported != "" {
					t.Errorf("dry run: block sender card unsupported %q", c.Unsupported)
				}
			case c.Unsupported != "" && (name == "dry-run" || c.Action != card.ActionDeviceLiveResponse):
				t.Errorf("%s: %s unsupported: %s", name, c.Action, c.Unsupported)
			default:
				others++
			}
		}
		if blockSender != 1 || others < 5 {
			t.Fatalf("%s: %d block-sender cards, %d others", name, blockSender, others)
		}
	}
}
