package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/guided-response/guided/internal/guidegen"
)

const genGuideUsage = `usage: starter gen-guide --rows N [--orgs M] [--seed S] [--test] [--malformed-every K] [--label-noise P] --out FILE

Write a synthetic file in the format of Microsoft's GUIDE dataset (GUIDE_Train.csv, or GUIDE_Test.csv
with --test) for tests and benchmarks of the importer and the models. The same flags write the same
bytes. --out - writes to standard output.

Flags:
`

// runGenGuide is the gen-guide command: it needs no running stack.
func runGenGuide(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opts guidegen.Options
	var out string
	fs := flag.NewFlagSet("starter gen-guide", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&opts.Rows, "rows", 0, "number of data rows, malformed ones included (GUIDE_Train has 9516837)")
	fs.IntVar(&opts.Orgs, "orgs", 0, "number of organisations (0: one per 1,500 rows, 20 to 6,100)")
	fs.Int64Var(&opts.Seed, "seed", 1, "seed of every random choice")
	fs.BoolVar(&opts.Test, "test", false, "the test file's layout: a last column Usage (Public/Private)")
	fs.IntVar(&opts.MalformedEvery, "malformed-every", 0, "make every Nth row malformed (0: none)")
	noise := fs.Float64("label-noise", guidegen.DefaultLabelNoise, "share of incidents graded against their tendency (0: none)")
	fs.StringVar(&out, "out", "", "file to write (- for standard output)")
	fs.Usage = func() {
		fmt.Fprint(stderr, genGuideUsage)
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return fmt.Errorf("gen-guide: unexpected arguments %q: every setting is a flag", rest)
	case opts.Rows <= 0:
		return errors.New("gen-guide: --rows must be at least 1")
	case opts.Orgs < 0:
		return errors.New("gen-guide: --orgs must not be negative")
	case opts.MalformedEvery < 0:
		return errors.New("gen-guide: --malformed-every must not be negative")
	case *noise < 0 || *noise > 0.5:
		return fmt.Errorf("gen-guide: --label-noise %g: give a share between 0 and 0.5", *noise)
	case out == "":
		return errors.New("gen-guide: name the file to write with --out (- for standard output)")
	}
	opts.LabelNoise = *noise
	if opts.LabelNoise == 0 {
		opts.LabelNoise = -1 // none
	}

	start := time.Now()
	var sum guidegen.Summary
	if out == "-" {
		sum, err = guidegen.Generate(ctxWriter{ctx, stdout}, opts)
		if err != nil {
			return fmt.Errorf("gen-guide: %w", err)
		}
	} else if sum, err = generateFile(ctx, out, opts); err != nil {
		return err
	}
	took := time.Since(start)
	report := stdout
	if out == "-" {
		report = stderr
	}
	fmt.Fprintf(report, "wrote %d rows (%d incidents, %d malformed) to %s in %s: %.0f rows/s\n",
		sum.Rows, sum.Incidents, sum.Malformed, out, took.Round(time.Millisecond), float64(sum.Rows)/took.Seconds())
	return nil
}

// generateFile writes a regular file next to path and renames it on success: an interrupted run leaves
// no partial file. A path that exists and is not a regular file (/dev/null, a named pipe) is written
// in place: it must never be replaced.
func generateFile(ctx context.Context, path string, opts guidegen.Options) (guidegen.Summary, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return guidegen.Summary{}, fmt.Errorf("gen-guide: %s is a directory: name a file", path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return guidegen.Summary{}, fmt.Errorf("gen-guide: %w", err)
		}
		sum, err := guidegen.Generate(ctxWriter{ctx, f}, opts)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return sum, fmt.Errorf("gen-guide: write %s: %w", path, err)
		}
		return sum, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return guidegen.Summary{}, fmt.Errorf("gen-guide: %w", err)
	}
	sum, err := guidegen.Generate(ctxWriter{ctx, f}, opts)
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp's 0600 suits a temporary file, not the data file it becomes
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return sum, fmt.Errorf("gen-guide: write %s: %w", path, err)
	}
	return sum, nil
}

// ctxWriter stops a long generation when the command is interrupted.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
