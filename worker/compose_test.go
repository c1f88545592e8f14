package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/guided-response/guided/internal/envflag"
	"gopkg.in/yaml.v3"
)

// composeFile is what `docker-compose config` prints, the parts this test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []any             `yaml:"ports"`
		Build       any               `yaml:"build"`
	} `yaml:"services"`
}

// TestComposeFileIsValidAndMatchesTheWorker validates docker-compose.yml with docker-compose itself and
// checks that every command and variable it hands the worker image is one the worker really takes.
func TestComposeFileIsValidAndMatchesTheWorker(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose is not installed: `apt-get install docker-compose` (the Debian package validates compose files without a Docker engine)")
	}
	cmd := exec.Command(bin, "-f", "../docker-compose.yml", "config")
	cmd.Env = append(os.Environ(), "POSTGRES_PASSWORD=compose-test-password")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, stderr.String())
	}
	var cf composeFile
	if err := yaml.Unmarshal(out, &cf); err != nil {
		t.Fatalf("parse docker-compose config output: %v", err)
	}
	for _, name := range []string{"postgres", "temporal", "temporal-ui", "migrate", "search-attributes", "worker", "api"} {
		if _, ok := cf.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}

	known := workerEnvironment(t)
	commands := map[string]bool{"": true, "migrate": true, "register-search-attributes": true, "api": true}
	workerServices := 0
	for name, svc := range cf.Services {
		if svc.Image != "guided-response/worker:latest" {
			continue
		}
		workerServices++
		command := ""
		if len(svc.Command) > 0 {
			command = svc.Command[0]
		}
		if !commands[command] {
			t.Errorf("service %s runs `worker %s`, which is not a worker command", name, command)
		}
		for env := range svc.Environment {
			if !known[env] {
				t.Errorf("service %s sets %s, which the worker does not read", name, env)
			}
		}
		if !strings.Contains(svc.Environment["DATABASE_URL"], "@postgres:5432/guided") {
			t.Errorf("service %s: DATABASE_URL does not point at the compose postgres: %q", name, svc.Environment["DATABASE_URL"])
		}
		// The worker must be able to parse its own flags with this environment.
		for k, v := range svc.Environment {
			t.Setenv(k, v)
		}
		var cfg config
		fs := newFlagSet(orRun(command), &cfg, io.Discard)
		if err := fs.Parse(svc.Command[min(1, len(svc.Command)):]); err != nil {
			t.Errorf("service %s: worker flags: %v", name, err)
		}
		if err := envflag.Apply(fs); err != nil {
			t.Errorf("service %s: its environment: %v", name, err)
		}
		if cfg.Dev {
			t.Errorf("service %s runs the embedded dev stack", name)
		}
	}
	if workerServices != 4 {
		t.Errorf("want the worker image in migrate, search-attributes, api and worker; found it in %d services", workerServices)
	}
}

func orRun(command string) string {
	if command == "" {
		return "run"
	}
	return command
}

// workerEnvironment lists the variables the worker's flags read, from their usage text "(env NAME)".
func workerEnvironment(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	re := regexp.MustCompile(`env ([A-Z_]+)`)
	for _, command := range []string{"run", "api", "migrate", "register-search-attributes"} {
		var cfg config
		newFlagSet(command, &cfg, io.Discard).VisitAll(func(f *flag.Flag) {
			for _, m := range re.FindAllStringSubmatch(f.Usage, -1) {
				known[m[1]] = true
			}
		})
	}
	if !known["DATABASE_URL"] || !known["TEMPORAL_ADDRESS"] {
		t.Fatalf("flag usage lost its (env NAME) notes: %v", known)
	}
	return known
}
