package main

import (
	"context"
	"strings"
	"testing"
)

func TestRunPrintsTheFigures(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"--n", "3000", "--dim", "16", "--queries", "20", "--lists", "20",
		"--sweep", "4", "--adds", "10"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"load average at start", "build:", "heap in use", "exact: p50", "search probes=",
		"sweep  probes=4", "recall@10", "speed-up", "add after build", "persist:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--n", "0"}, {"--sweep", "8,x"}, {"--nope"}} {
		if err := run(context.Background(), args, &strings.Builder{}); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
