// Package playbook turns an incident into guided-response cards by rules that playbook authors write in
// YAML, one playbook per file:
//
//	id: endpoint
//	version: 1.2.0
//	title: Endpoint containment
//	rules:
//	  - id: isolate-malicious-device
//	    when:                          # all optional; AND across fields, OR inside a list
//	      entityKinds: [device]
//	      verdicts: [malicious, suspicious]
//	      minSeverity: medium
//	    cards:
//	      - action: device.isolate
//	        title: Isolate device {{.Entity.Name}}
//	        why: The device runs attacker code; isolation cuts it off from everything but Defender.
//	        reversible: true
//	        undoAction: device.release
//	        timeBox: 24h
//	        d3fend: D3-NI
//	        rank: 10
//
// Conditions: alertCategories (case-insensitive), mitreTechniques (T1566 matches T1566.001),
// detectionSources, serviceSources, titleContains and minSeverity look at the alerts; entityKinds, verdicts
// and roles at the entity a card targets. An entity matches a rule when some alert holding it meets the
// alert conditions and the entity (merged across alerts: highest verdict, all roles) meets the entity
// conditions. A rule proposes each of its cards for every matching entity, or once per incident for cards
// with entity: none.
//
// Card templates: action (a card.Action), category, entity (none for an incident-wide card), title and
// why (text/template over Data), risk, reversible, undoAction, undo, timeBox (a Go duration; reversible
// containment only), parameters (values are templates too), permission (an rbac.Permission; each action
// has a default), reactId (RE&CT RAxxxx), d3fend (D3FEND D3-xxx), query (an advanced-hunting KQL
// template), rank (lower first) and confidence (also settable per rule). Besides text/template's
// built-ins, templates may call kqlString, kqlStrings, kqlInt, kqlDatetime, join, lower and upper. In a
// query every {{...}} that prints must end in kqlString (or kqlStrings, kqlInt, kqlDatetime), which make
// a whole KQL literal of the value; load time checks that with hostile sample values.
//
// A Set is loaded and validated as a whole: any problem in any file refuses the set, with up to 20 problems
// each naming the file, line, field path, what is wrong and how to fix it. A Set never changes; a Library
// reloads the current Set from a directory when its files change and keeps the last good one when an edit
// is bad.
package playbook

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
)

//go:embed default/*.yaml
var defaultFiles embed.FS

// Limits on what a set of playbook files may hold.
const (
	// MaxFileSize is the largest playbook file accepted: 1 MiB.
	MaxFileSize = 1 << 20
	// MaxFiles is how many playbook files one set may hold.
	MaxFiles = 200
	// maxRules and maxCards bound one playbook and one rule.
	maxRules = 500
	maxCards = 20
)

// Set is a validated set of playbooks. It is immutable and safe for concurrent use.
type Set struct {
	hash    string
	version string
	books   []*book
}

// Info describes one playbook of a set.
type Info struct {
	ID, Version, Title, Description string
	// File is the file the playbook came from; ContentHash the first 16 hex digits of its SHA-256.
	File, ContentHash string
	Rules             int
}

// book is one compiled playbook.
type book struct {
	id, version, title, description, file, fileHash string
	rules                                           []*rule
}

// cardVersion is the version cards record: the declared version with the file's hash as build metadata,
// so that an edit without a version bump still shows.
func (b *book) cardVersion() string { return b.version + "+" + b.fileHash[:8] }

type rule struct {
	id    string
	when  conditions
	cards []*cardTemplate
}

// conditions are a rule's when, normalised for matching.
type conditions struct {
	categories, techniques, detectionSources, serviceSources, titleContains []string // lower case
	kinds                                                                   []incident.EntityKind
	verdicts                                                                []incident.Verdict
	roles                                                                   []incident.Role
	minSeverity                                                             incident.Severity
}

// hasEntityConditions reports whether the rule says anything about entities.
func (c *conditions) hasEntityConditions() bool {
	return len(c.kinds) > 0 || len(c.verdicts) > 0 || len(c.roles) > 0
}

type param struct {
	name string
	text *template.Template
}

type cardTemplate struct {
	action   card.Action
	spec     actionSpec
	category card.Category
	noEntity bool
	// targets are the entity kinds the card targets (entity cards only).
	targets           []incident.EntityKind
	title, why, query *template.Template
	risk              card.Risk
	reversible        bool
	undoAction        card.Action
	undo              string
	timeBox           time.Duration
	params            []param
	permission        rbac.Permission
	reactID, d3fend   string
	rank              int
	confidence        float64
}

// Version identifies the set: the first 16 hex digits of the SHA-256 of its files (names and contents),
// then each playbook's id@version, e.g. "3f2a9c0d1e2b4c5d:email@1.0.0,endpoint@1.2.0".
func (s *Set) Version() string { return s.version }

// Hash is the first 16 hex digits of the SHA-256 of the set's files.
func (s *Set) Hash() string { return s.hash }

// Playbooks describes the set's playbooks, ordered by id.
func (s *Set) Playbooks() []Info {
	infos := make([]Info, len(s.books))
	for i, b := range s.books {
		infos[i] = Info{
			ID: b.id, Version: b.version, Title: b.title, Description: b.description,
			File: b.file, ContentHash: b.fileHash, Rules: len(b.rules),
		}
	}
	return infos
}

// Default returns the playbooks shipped with the engine (playbook/default/*.yaml, embedded).
func Default() (*Set, error) {
	sub, err := fs.Sub(defaultFiles, "default")
	if err != nil {
		return nil, fmt.Errorf("default playbooks: %w", err)
	}
	files, err := readFiles(sub, "default")
	if err != nil {
		return nil, fmt.Errorf("default playbooks: %w", err)
	}
	return compile(files)
}

// Load reads every *.yaml and *.yml file at the root of fsys (names starting with a dot are skipped) and
// validates them as one set. On any problem it returns no set and an Errors.
func Load(fsys fs.FS) (*Set, error) {
	files, err := readFiles(fsys, "")
	if err != nil {
		return nil, err
	}
	return compile(files)
}

// LoadDir is Load on a directory; errors name the files by their path.
func LoadDir(dir string) (*Set, error) {
	files, err := readFiles(os.DirFS(dir), dir)
	if err != nil {
		return nil, err
	}
	return compile(files)
}

// sourceFile is one playbook file as read.
type sourceFile struct {
	name, display string
	data          []byte
}

// readFiles reads the playbook files at the root of fsys, sorted by name; display prefixes names in
// errors.
func readFiles(fsys fs.FS, display string) ([]sourceFile, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read playbooks: %w", err)
	}
	var files []sourceFile
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(path.Ext(name))
		if e.IsDir() || strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		shown := name
		if display != "" {
			shown = filepath.Join(display, name)
		}
		if len(files) == MaxFiles {
			return nil, Errors{{File: shown, Problem: fmt.Sprintf("more than %d playbook files", MaxFiles), Fix: "merge playbooks or remove unused ones"}}
		}
		info, err := fs.Stat(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read playbook %s: %w", shown, err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if info.Size() > MaxFileSize {
			return nil, Errors{{File: shown, Problem: fmt.Sprintf("the file is larger than %d bytes", MaxFileSize), Fix: "split it into several playbooks"}}
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read playbook %s: %w", shown, err)
		}
		if len(data) > MaxFileSize {
			return nil, Errors{{File: shown, Problem: fmt.Sprintf("the file is larger than %d bytes", MaxFileSize), Fix: "split it into several playbooks"}}
		}
		files = append(files, sourceFile{name: name, display: shown, data: data})
	}
	slices.SortFunc(files, func(a, b sourceFile) int { return strings.Compare(a.name, b.name) })
	return files, nil
}

// hashFiles hashes names and contents: the same files give the same hash wherever they are.
func hashFiles(files []sourceFile) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%d:%s\x00%d:", len(f.name), f.name, len(f.data))
		h.Write(f.data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// compile decodes and validates the files into a Set.
func compile(files []sourceFile) (*Set, error) {
	if len(files) == 0 {
		return nil, Errors{{Problem: "no playbook files found", Fix: "add one or more *.yaml playbook files"}}
	}
	p := &problems{}
	owner := map[string]string{} // playbook id -> file
	var books []*book
	for _, f := range files {
		if p.full() {
			break
		}
		raw, lines, ok := decodeFile(f.display, f.data, p)
		if !ok {
			continue
		}
		v := &validator{file: f.display, lines: lines, problems: p}
		b := v.book(raw)
		if b == nil {
			continue
		}
		if other, dup := owner[b.id]; dup {
			v.fail("id", fmt.Sprintf("playbook id %q is already used by %s", b.id, other), "give each playbook its own id")
			continue
		}
		owner[b.id] = f.display
		sum := sha256.Sum256(f.data)
		b.file, b.fileHash = f.display, hex.EncodeToString(sum[:])[:16]
		books = append(books, b)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	slices.SortFunc(books, func(a, b *book) int { return strings.Compare(a.id, b.id) })
	s := &Set{hash: hashFiles(files), books: books}
	versions := make([]string, len(books))
	for i, b := range books {
		versions[i] = b.id + "@" + b.version
	}
	s.version = s.hash + ":" + strings.Join(versions, ",")
	return s, nil
}
