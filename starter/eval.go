package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/guide"
	"github.com/guided-response/guided/learn"
)

// The offline evaluation: `starter eval --data FILE.csv` reads GUIDE-format files, splits the
// incidents into training and test (by incident, stratified by grade, or by organisation), trains the
// triage model on one side (holding out a share of it for early stopping, calibration and the
// threshold) and reports on the other: per-grade precision/recall/F1, macro-F1, the coverage and
// answered precision at the confidence threshold, the similar-incident precision@5 and the action
// precision/recall. No Temporal, no Postgres: everything runs in this process.

// evalFlags are the eval command's flags.
type evalFlags struct {
	data           stringList
	split          float64
	seed           int64
	by             string
	threshold      float64
	json           bool
	similarQueries int
	modelOut       string
	logLevel       string
	baseline       bool
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

func (f *evalFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.data, "data", "a GUIDE-format CSV file (repeat for several; files may also follow the flags)")
	fs.Float64Var(&f.split, "split", 0.7, "share of the incidents (or organisations' incidents) that train")
	fs.Int64Var(&f.seed, "seed", 42, "seed of the split, the folds and the trees")
	fs.StringVar(&f.by, "by", "incident", "split by incident (stratified by grade) or org (no organisation on both sides)")
	fs.Float64Var(&f.threshold, "threshold", learn.DefaultThreshold, "confidence at or above which the triage answers; below it, unsure")
	fs.BoolVar(&f.json, "json", false, "end with the report as one JSON object on the last line")
	fs.IntVar(&f.similarQueries, "similar-queries", 10000, "test incidents the similar-incident precision@5 is measured on (seeded sample; 0: all); each is an exact scan of the training incidents")
	fs.StringVar(&f.modelOut, "model-out", "", "also save the trained model (JSON) to this file")
	fs.StringVar(&f.logLevel, "log-level", "info", "level of the progress log on stderr")
	fs.BoolVar(&f.baseline, "baseline", false, "also train and report the issue's reference on the same split: scikit-learn's gradient-boosting defaults on per-incident aggregates without history")
}

// evalReport is what eval prints: the evaluation and how the data was read.
type evalReport struct {
	learn.Report
	Files        []string `json:"files"`
	By           string   `json:"by"`
	Split        float64  `json:"split"`
	Seed         int64    `json:"seed"`
	Rows         int      `json:"rows"`
	Malformed    int      `json:"malformed"`
	Incidents    int      `json:"incidents"`
	ReadSeconds  float64  `json:"read_seconds"`
	TotalSeconds float64  `json:"total_seconds"`
	HeapSysMiB   float64  `json:"heap_sys_mib"`
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f evalFlags
	fs := flag.NewFlagSet("starter eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: starter eval --data FILE.csv [flags]\n\nTrain the triage model on part of a GUIDE-format file and report on the rest: per-grade\nprecision/recall/F1, macro-F1, coverage and answered precision at --threshold, similar-incident\nprecision@5, action precision/recall. Offline: no Temporal, no Postgres.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	files := append([]string(f.data), rest...)
	by, err := learn.ParseSplitBy(f.by)
	switch {
	case len(files) == 0:
		return errors.New("eval: name a GUIDE-format CSV file with --data FILE (make one with `starter gen-guide`)")
	case err != nil:
		return fmt.Errorf("eval: --by: %w", err)
	case !(f.split > 0 && f.split < 1):
		return fmt.Errorf("eval: --split %g: give the training share, between 0 and 1 (e.g. 0.7)", f.split)
	case !(f.threshold > 0 && f.threshold <= 1):
		return fmt.Errorf("eval: --threshold %g: give a confidence between 0 and 1", f.threshold)
	case f.similarQueries < 0:
		return errors.New("eval: --similar-queries must be 0 (all) or more")
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "eval", Level: hclog.LevelFromString(f.logLevel), Output: stderr})

	start := time.Now()
	malformedShown := 0
	incs, st, err := guide.ReadFiles(files, func(e *guide.RowError) {
		if malformedShown < 10 {
			logger.Warn("malformed row skipped", "error", e)
		}
		malformedShown++
	})
	if err != nil {
		return fmt.Errorf("eval: read %s: %w", strings.Join(files, ", "), err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	out := evalReport{Files: files, By: string(by), Split: f.split, Seed: f.seed, Rows: st.Rows, Malformed: st.Malformed,
		Incidents: st.Incidents, ReadSeconds: time.Since(start).Seconds()}
	logger.Info("read", "rows", st.Rows, "malformed", st.Malformed, "incidents", st.Incidents, "seconds", out.ReadSeconds)

	all := learn.Pointers(incs)
	train, test := learn.Split(all, by, f.split, f.seed)
	if len(train) == 0 || len(test) == 0 {
		return fmt.Errorf("eval: the split left %d training and %d test incidents: give more data (or, by org, more organisations)", len(train), len(test))
	}
	model, err := learn.Train(train, learn.TrainOptions{Seed: f.seed, ByOrg: by == learn.SplitByOrg, Log: logger.Info})
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.modelOut != "" {
		if err := saveModel(model, f.modelOut); err != nil {
			return err
		}
		logger.Info("model saved", "file", f.modelOut)
	}
	out.Report = learn.Evaluate(model, train, test, learn.EvalOptions{Threshold: f.threshold, SimilarQueries: f.similarQueries, Seed: f.seed, Workers: runtime.GOMAXPROCS(0)})
	if f.baseline {
		logger.Info("training the reference baseline")
		b, err := learn.EvaluateBaseline(train, test, learn.DefaultTargetPrecision, f.seed)
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		out.Baseline = &b
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out.HeapSysMiB = math.Round(float64(ms.HeapSys)/(1<<20)*10) / 10
	out.TotalSeconds = time.Since(start).Seconds()

	if err := printEval(stdout, &out); err != nil {
		return err
	}
	if f.json {
		b, err := json.Marshal(out)
		if err != nil {
			return fmt.Errorf("eval: encode the report: %w", err)
		}
		if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
			return err
		}
	}
	return nil
}

func saveModel(m *learn.Model, path string) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("eval: --model-out: %w", err)
	}
	if err := m.Save(fh); err != nil {
		fh.Close()
		return fmt.Errorf("eval: --model-out %s: %w", path, err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("eval: --model-out %s: %w", path, err)
	}
	return nil
}

func printEval(w io.Writer, r *evalReport) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "GUIDE offline evaluation (%s), split by %s, %.0f%% training, seed %d\n", r.ModelVersion, r.By, 100*r.Split, r.Seed)
	fmt.Fprintf(tw, "read %d rows (%d malformed skipped) into %d incidents in %.1fs\n", r.Rows, r.Malformed, r.Incidents, r.ReadSeconds)
	fmt.Fprintf(tw, "train %d incidents (%d organisations), test %d (%d organisations, %d also in training)\n",
		r.NTrain, r.NTrainOrgs, r.NTest, r.NTestOrgs, r.SharedOrgs)
	fmt.Fprintf(tw, "trained in %.1fs: %d features, %d rounds, temperature %.3f\n\n", r.TrainSeconds, r.FeatureCount, r.Rounds, r.Temperature)
	fmt.Fprintln(tw, "grade\tprecision\trecall\tF1\tsupport")
	for _, g := range guide.Grades {
		c := r.PerClass[string(g)]
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%d\n", g, c.Precision, c.Recall, c.F1, c.Support)
	}
	fmt.Fprintf(tw, "macro\t\t\t%.3f\t\n\n", r.MacroF1)
	fmt.Fprintf(tw, "accuracy %.3f, log-loss %.3f\n", r.Accuracy, r.LogLoss)
	fmt.Fprintf(tw, "at threshold %.3f: coverage %.3f, answered precision %.3f\n", r.Threshold, r.Coverage, r.AnsweredPrecision)
	fmt.Fprintf(tw, "at the model's own threshold %.3f (chosen on validation for precision %.2f): coverage %.3f, answered precision %.3f\n",
		r.ModelThreshold, learn.DefaultTargetPrecision, r.ModelCoverage, r.ModelAnsweredPrecision)
	fmt.Fprintf(tw, "after the fact, the lowest threshold with precision %.2f on these incidents (%.3f) answers %.3f\n",
		learn.DefaultTargetPrecision, r.ThresholdAtPrecision, r.CoverageAtPrecision)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(tw, "reference baseline (%d features, scikit-learn's gradient-boosting defaults, no history): macro-F1 %.3f (TP %.3f, BP %.3f, FP %.3f), accuracy %.3f; precision %.2f answers %.3f\n",
			b.Features, b.MacroF1, b.PerClass[string(guide.GradeTruePositive)].F1, b.PerClass[string(guide.GradeBenignPositive)].F1,
			b.PerClass[string(guide.GradeFalsePositive)].F1, b.Accuracy, b.TargetPrecision, b.CoverageAtPrecision)
	}
	fmt.Fprintf(tw, "similar incidents: precision@5 %.3f over %d test incidents (exact search, %.1fs)\n", r.SimilarPrecisionAt5, r.SimilarQueries, r.SimilarSeconds)
	fmt.Fprintf(tw, "actions: precision %.3f, recall %.3f over %d test incidents with action labels\n", r.ActionPrecision, r.ActionRecall, r.ActionIncidents)
	fmt.Fprintf(tw, "scoring: %.1f µs per incident (features, trees, calibration); top features: %s\n", r.ScoreMicros, strings.Join(r.TopImportance, ", "))
	fmt.Fprintf(tw, "total %.1fs, Go heap obtained from the OS %.0f MiB\n", r.TotalSeconds, r.HeapSysMiB)
	return tw.Flush()
}
