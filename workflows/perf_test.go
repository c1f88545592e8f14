package workflows

import (
	"testing"
	"time"

	"github.com/guided-response/guided/internal/incidentgen"
	"github.com/guided-response/guided/playbook"
)

// BenchmarkDetailsMarkdown is the Temporal UI's current details of a generated incident with its cards:
// the workflow renders them whenever its state changes (publish), on the worker's workflow goroutines.
func BenchmarkDetailsMarkdown(b *testing.B) {
	gen, err := incidentgen.New(incidentgen.Options{RunID: "bench", Seed: 1, Now: time.Unix(1_800_000_000, 0)})
	if err != nil {
		b.Fatal(err)
	}
	inc, _ := gen.Next()
	set, err := playbook.Default()
	if err != nil {
		b.Fatal(err)
	}
	s := &incidentState{current: inc, phase: PhaseOpen, undoing: map[string]bool{}}
	s.g.Cards = append(s.g.Cards, playbook.Triage(&inc, 0.7))
	s.g.Cards = append(s.g.Cards, set.Generate(&inc)...)
	s.g.Ready = true
	b.ReportAllocs()
	for b.Loop() {
		_ = s.detailsMarkdown()
	}
}
