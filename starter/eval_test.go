package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guided-response/guided/guide"
)

// writeGUIDE writes a small GUIDE-format file: incidents of a few organisations whose grades lean with
// their detectors and verdicts, some true positives with actions.
func writeGUIDE(t *testing.T, incidents, orgs int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "guide.csv")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(fh)
	if err := w.Write(guide.Columns); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	col := map[string]int{}
	for i, c := range guide.Columns {
		col[c] = i
	}
	id := 0
	base := time.Date(2024, 6, 6, 17, 32, 50, 0, time.UTC)
	for n := range incidents {
		g := rng.IntN(3)
		org := 1 + rng.IntN(orgs)
		alerts := 1 + rng.IntN(2)
		for a := range alerts {
			detector := 10*g + rng.IntN(4)
			if rng.Float64() < 0.2 {
				detector = rng.IntN(30)
			}
			for range 1 + rng.IntN(3) {
				rec := make([]string, len(guide.Columns))
				for i := range rec {
					rec[i] = "0"
				}
				rec[col["Id"]] = fmt.Sprint(id)
				rec[col["OrgId"]] = fmt.Sprint(org)
				rec[col["IncidentId"]] = fmt.Sprint(n)
				rec[col["AlertId"]] = fmt.Sprint(100*n + a)
				rec[col["Timestamp"]] = base.Add(time.Duration(id) * time.Minute).Format("2006-01-02T15:04:05.000Z")
				rec[col["DetectorId"]] = fmt.Sprint(detector)
				rec[col["AlertTitle"]] = fmt.Sprint(1000 + detector)
				rec[col["Category"]] = []string{"InitialAccess", "Execution", "Discovery"}[detector%3]
				rec[col["MitreTechniques"]] = []string{"T1566.002;T1078", "", "T1059"}[detector%3]
				rec[col["IncidentGrade"]] = string(guide.Grades[g])
				rec[col["ActionGrouped"]], rec[col["ActionGranular"]] = "", ""
				if g == 0 && n%5 == 0 {
					rec[col["ActionGrouped"]], rec[col["ActionGranular"]] = "IsolateDevice", "isolateresponse"
				}
				rec[col["EntityType"]] = []string{"Machine", "User", "Ip", "File"}[rng.IntN(4)]
				rec[col["EvidenceRole"]] = []string{"Related", "Impacted"}[rng.IntN(2)]
				rec[col["ThreatFamily"]], rec[col["Roles"]], rec[col["AntispamDirection"]] = "", "", ""
				rec[col["SuspicionLevel"]] = []string{"Incriminated", "Suspicious", ""}[(g+rng.IntN(2))%3]
				rec[col["LastVerdict"]] = []string{"Malicious", "Suspicious", "NoThreatsFound"}[(g+rng.IntN(2))%3]
				if err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
				id++
			}
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvalJSONLastLineHasEveryKey(t *testing.T) {
	path := writeGUIDE(t, 1500, 30)
	for _, by := range []string{"incident", "org"} {
		var out, errb bytes.Buffer
		args := []string{"eval", "--data", path, "--by", by, "--json", "--seed", "7", "--log-level", "warn"}
		if by == "incident" {
			args = append(args, "--baseline")
		}
		err := run(context.Background(), args, &out, &errb)
		if err != nil {
			t.Fatalf("by %s: %v\n%s", by, err, errb.String())
		}
		lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
		last := lines[len(lines)-1]
		var got map[string]any
		if err := json.Unmarshal([]byte(last), &got); err != nil {
			t.Fatalf("by %s: the last line is not JSON: %v\n%s", by, err, out.String())
		}
		for _, k := range []string{"macro_f1", "per_class", "coverage", "answered_precision", "similar_precision_at_5",
			"action_precision", "action_recall", "n_train", "n_test"} {
			if _, ok := got[k]; !ok {
				t.Errorf("by %s: key %s missing from %s", by, k, last)
			}
		}
		pc, _ := got["per_class"].(map[string]any)
		for _, g := range guide.Grades {
			if _, ok := pc[string(g)].(map[string]any)["f1"]; !ok {
				t.Errorf("by %s: per_class has no F1 for %s", by, g)
			}
		}
		if got["n_train"].(float64) == 0 || got["n_test"].(float64) == 0 {
			t.Errorf("by %s: n_train %v, n_test %v", by, got["n_train"], got["n_test"])
		}
		if by == "org" && got["shared_orgs"].(float64) != 0 {
			t.Errorf("split by org shares %v organisations", got["shared_orgs"])
		}
		if f1 := got["macro_f1"].(float64); f1 < 0.5 {
			t.Errorf("by %s: macro-F1 %.3f on an easy file", by, f1)
		}
		if c := got["coverage_at_precision"].(float64); c <= 0 || c > 1 {
			t.Errorf("by %s: coverage at precision %v", by, c)
		}
		base, ok := got["baseline"].(map[string]any)
		switch {
		case by == "org" && ok:
			t.Errorf("a baseline nobody asked for: %v", base)
		case by == "incident" && !ok:
			t.Errorf("--baseline gave no baseline: %s", last)
		case by == "incident":
			if f1 := base["macro_f1"].(float64); f1 < 0.4 || f1 > 1 {
				t.Errorf("baseline macro-F1 %v", f1)
			}
			if !strings.Contains(out.String(), "reference baseline (") {
				t.Errorf("the table does not show the baseline:\n%s", out.String())
			}
		}
		t.Logf("by %s:\n%s", by, out.String())
	}
}

func TestEvalRefusesBadFlags(t *testing.T) {
	path := writeGUIDE(t, 50, 3)
	for _, args := range [][]string{
		{"eval"},
		{"eval", "--data", path, "--split", "1.5"},
		{"eval", "--data", path, "--by", "tenant"},
		{"eval", "--data", path, "--threshold", "0"},
		{"eval", "--data", filepath.Join(t.TempDir(), "missing.csv")},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
