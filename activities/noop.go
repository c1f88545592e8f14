package activities

import "context"

// NoopInput is the input of Noop: nothing, a struct so it can grow.
type NoopInput struct {
	// Step numbers the call within its workflow, for histories that read well.
	Step int `json:"step"`
}

// NoopOutput is Noop's answer.
type NoopOutput struct {
	Step int `json:"step"`
}

// Noop does nothing and answers at once. The load benchmark's bare workflow runs it as many times as the
// incident workflow runs activities before its cards are ready, so that the product's overhead over
// Temporal itself is a ratio.
func (a *Activities) Noop(_ context.Context, in NoopInput) (NoopOutput, error) {
	return NoopOutput(in), nil
}
