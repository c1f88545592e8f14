package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"time"
)

// profileReport says where the worker's profiles went.
type profileReport struct {
	CPUProfile  string   `json:"cpuProfile,omitempty"`
	CPUSeconds  int      `json:"cpuProfileSeconds,omitempty"`
	HeapProfile string   `json:"heapProfile,omitempty"`
	Errors      []string `json:"errors,omitempty"`
}

// profiles are the profiles being taken during the incident phase; nil takes none.
type profiles struct {
	b       *bench
	cpuDone chan error
	seconds int
}

// startProfiles starts the worker's CPU profile over the incident phase: as many seconds as the phase
// should last at --rate, plus one.
func (b *bench) startProfiles(ctx context.Context, progress io.Writer) *profiles {
	if b.flags.pprofURL == "" {
		return nil
	}
	p := &profiles{b: b}
	if b.flags.cpuProfile != "" {
		p.seconds = int(math.Ceil(float64(b.flags.incidents)/b.flags.rate)) + 1
		p.cpuDone = make(chan error, 1)
		go func() {
			p.cpuDone <- fetchProfile(ctx, b.flags.pprofURL, fmt.Sprintf("profile?seconds=%d", p.seconds), b.flags.cpuProfile, time.Duration(p.seconds+30)*time.Second)
		}()
		fmt.Fprintf(progress, "  CPU profile of the worker over %d s to %s\n", p.seconds, b.flags.cpuProfile)
	}
	return p
}

// finish takes the heap profile and waits for the CPU profile.
func (p *profiles) finish(ctx context.Context) *profileReport {
	if p == nil {
		return nil
	}
	rep := &profileReport{}
	// After an interrupt too: the heap as the run left it is what a reader of the figures wants.
	ctx = context.WithoutCancel(ctx)
	if p.b.flags.heapProfile != "" {
		if err := fetchProfile(ctx, p.b.flags.pprofURL, "heap?gc=1", p.b.flags.heapProfile, time.Minute); err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		} else {
			rep.HeapProfile = p.b.flags.heapProfile
		}
	}
	if p.cpuDone != nil {
		if err := <-p.cpuDone; err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		} else {
			rep.CPUProfile, rep.CPUSeconds = p.b.flags.cpuProfile, p.seconds
		}
	}
	return rep
}

// fetchProfile GETs base+name (base: the worker's /debug/pprof/) into the file path.
func fetchProfile(ctx context.Context, base, name, path string, timeout time.Duration) error {
	u := strings.TrimSuffix(base, "/") + "/" + name
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("profile %s: %w", u, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("profile %s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	_, err = io.Copy(f, resp.Body)
	if err := errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("profile %s to %s: %w", u, path, err)
	}
	return nil
}

func writeProfilesText(w io.Writer, r *profileReport) {
	if r == nil {
		return
	}
	if r.CPUProfile != "" {
		fmt.Fprintf(w, "worker CPU profile over %d s: %s (go tool pprof -top %s)\n", r.CPUSeconds, r.CPUProfile, r.CPUProfile)
	}
	if r.HeapProfile != "" {
		fmt.Fprintf(w, "worker heap profile at the end of the incident phase: %s\n", r.HeapProfile)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "profile error: %s\n", e)
	}
}
