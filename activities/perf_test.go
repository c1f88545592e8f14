package activities

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/internal/incidentgen"
	"github.com/guided-response/guided/internal/pgtest"
	"github.com/guided-response/guided/playbook"
	"github.com/guided-response/guided/store"
)

// BenchmarkGenerateCards is the card generation of the four generated incident mixes (phishing,
// malware, compromised user, benign admin), one after the other, with the built-in playbooks, against
// a real PostgreSQL (the action ranking's query; no triage model trained yet).
func BenchmarkGenerateCards(b *testing.B) {
	lib, err := playbook.NewLibrary(playbook.LibraryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(pgtest.MigratedDB(b), hclog.NewNullLogger())
	a := &Activities{Store: st, Models: NewTriageModels(st), Playbooks: lib, Logger: hclog.NewNullLogger(),
		Policy: DefaultPolicy(), TriageThreshold: 0.7}
	gen, err := incidentgen.New(incidentgen.Options{RunID: "bench", Seed: 1, Now: time.Unix(1_800_000_000, 0)})
	if err != nil {
		b.Fatal(err)
	}
	var ins []GenerateCardsInput
	for range 4 {
		inc, _ := gen.Next()
		ins = append(ins, GenerateCardsInput{Incident: inc})
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := a.GenerateCards(ctx, ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
