package playbook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The playbook file format, as authors write it. Every field is optional to the decoder; validate says
// which are required.
type (
	fileBook struct {
		ID          string     `yaml:"id"`
		Version     string     `yaml:"version"`
		Title       string     `yaml:"title"`
		Description string     `yaml:"description"`
		Rules       []fileRule `yaml:"rules"`
	}

	fileRule struct {
		ID          string         `yaml:"id"`
		Description string         `yaml:"description"`
		When        fileConditions `yaml:"when"`
		Confidence  *float64       `yaml:"confidence"`
		Cards       []fileCard     `yaml:"cards"`
	}

	fileConditions struct {
		AlertCategories  []string `yaml:"alertCategories"`
		MitreTechniques  []string `yaml:"mitreTechniques"`
		DetectionSources []string `yaml:"detectionSources"`
		ServiceSources   []string `yaml:"serviceSources"`
		EntityKinds      []string `yaml:"entityKinds"`
		Verdicts         []string `yaml:"verdicts"`
		Roles            []string `yaml:"roles"`
		MinSeverity      string   `yaml:"minSeverity"`
		TitleContains    []string `yaml:"titleContains"`
	}

	fileCard struct {
		Category   string            `yaml:"category"`
		Action     string            `yaml:"action"`
		Entity     string            `yaml:"entity"`
		Title      string            `yaml:"title"`
		Why        string            `yaml:"why"`
		Risk       string            `yaml:"risk"`
		Reversible *bool             `yaml:"reversible"`
		UndoAction string            `yaml:"undoAction"`
		Undo       string            `yaml:"undo"`
		TimeBox    string            `yaml:"timeBox"`
		Parameters map[string]string `yaml:"parameters"`
		Permission string            `yaml:"permission"`
		ReactID    string            `yaml:"reactId"`
		D3FEND     string            `yaml:"d3fend"`
		Query      string            `yaml:"query"`
		Rank       *int              `yaml:"rank"`
		Confidence *float64          `yaml:"confidence"`
	}
)

// decoder turns one YAML document into a fileBook, strictly: unknown fields, wrong shapes, anchors and
// aliases are problems. It remembers the line of every field path it saw, for later problems.
type decoder struct {
	file     string
	problems *problems
	lines    map[string]int
}

// decodeFile parses data as one playbook. It returns false when the file has problems the decoder found;
// those are added to p.
func decodeFile(file string, data []byte, p *problems) (*fileBook, map[string]int, bool) {
	before := len(p.list)
	d := &decoder{file: file, problems: p, lines: map[string]int{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.fail("", 0, "the file is empty", "write a playbook: id, version, title, rules")
			return nil, nil, false
		}
		d.fail("", yamlErrorLine(err), "the file is not valid YAML: "+yamlErrorText(err), "fix the YAML syntax at that line")
		return nil, nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.fail("", extra.Line, "the file holds more than one YAML document", "put one playbook in each file; remove the --- separator")
		return nil, nil, false
	} else if !errors.Is(err, io.EOF) {
		d.fail("", yamlErrorLine(err), "the file is not valid YAML: "+yamlErrorText(err), "fix the YAML syntax at that line")
		return nil, nil, false
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	var book fileBook
	d.value(root, "", reflect.ValueOf(&book).Elem())
	return &book, d.lines, len(p.list) == before
}

func (d *decoder) fail(path string, line int, problem, fix string) {
	d.problems.add(&Error{File: d.file, Line: line, Path: path, Problem: problem, Fix: fix})
}

// value decodes node n at path into v.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) {
	if d.problems.full() {
		return
	}
	d.lines[path] = n.Line
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.fail(path, n.Line, "YAML anchors and aliases are not supported in playbooks", "write the value out in full")
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value: the field keeps its zero value
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, path, v)
	case reflect.String:
		if s, ok := d.scalar(n, path, "text"); ok {
			v.SetString(s)
		}
	case reflect.Slice:
		d.sequence(n, path, v)
	case reflect.Map:
		d.stringMap(n, path, v)
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		if d.number(n, path, elem.Elem()) {
			v.Set(elem)
		}
	}
}

// mapping decodes a YAML mapping into a struct, refusing unknown and repeated keys.
func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "expected a mapping of fields, found "+describe(n), "write field: value lines under it")
		return
	}
	fields := map[string]int{}
	var names []string
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Tag.Get("yaml")
		fields[name] = i
		names = append(names, name)
	}
	seen := map[string]bool{}
	for k := 0; k+1 < len(n.Content); k += 2 {
		key, value := n.Content[k], n.Content[k+1]
		if key.Kind != yaml.ScalarNode {
			d.fail(path, key.Line, "a key is not plain text", "use simple field names as keys")
			continue
		}
		name := key.Value
		at := join(path, name)
		if key.Tag == "!!merge" {
			d.fail(path, key.Line, "YAML merge keys (<<) are not supported in playbooks", "write the fields out in full")
			continue
		}
		i, ok := fields[name]
		if !ok {
			d.fail(at, key.Line, fmt.Sprintf("unknown field %q", name),
				suggest(name, names)+"the fields here are "+strings.Join(names, ", "))
			continue
		}
		if seen[name] {
			d.fail(at, key.Line, fmt.Sprintf("field %q appears twice", name), "keep one of them")
			continue
		}
		seen[name] = true
		d.lines[at] = key.Line
		d.value(value, at, v.Field(i))
	}
}

// sequence decodes a YAML sequence into a slice; a single scalar is taken as a list of one for lists of
// text ("verdicts: malicious").
func (d *decoder) sequence(n *yaml.Node, path string, v reflect.Value) {
	items := n.Content
	switch {
	case n.Kind == yaml.SequenceNode:
	case n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String:
		items = []*yaml.Node{n}
	default:
		d.fail(path, n.Line, "expected a list, found "+describe(n), "write the items as - item lines, or [a, b]")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		d.value(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
	}
	v.Set(s)
}

// stringMap decodes a mapping of text to text.
func (d *decoder) stringMap(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "expected a mapping of names to values, found "+describe(n), "write name: value lines under it")
		return
	}
	m := reflect.MakeMap(v.Type())
	for k := 0; k+1 < len(n.Content); k += 2 {
		key, value := n.Content[k], n.Content[k+1]
		name, ok := d.scalar(key, path, "a name")
		if !ok {
			continue
		}
		at := join(path, name)
		d.lines[at] = key.Line
		if m.MapIndex(reflect.ValueOf(name)).IsValid() {
			d.fail(at, key.Line, fmt.Sprintf("%q appears twice", name), "keep one of them")
			continue
		}
		if value.Kind == yaml.AliasNode || value.Anchor != "" {
			d.fail(at, value.Line, "YAML anchors and aliases are not supported in playbooks", "write the value out in full")
			continue
		}
		s, ok := d.scalar(value, at, "text")
		if !ok {
			continue
		}
		m.SetMapIndex(reflect.ValueOf(name), reflect.ValueOf(s))
	}
	v.Set(m)
}

// scalar returns a scalar's text.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n.Line, "expected "+want+", found "+describe(n), "write a single value")
		return "", false
	}
	return n.Value, true
}

// number decodes a scalar into an int, a float64 or a bool.
func (d *decoder) number(n *yaml.Node, path string, v reflect.Value) bool {
	s, ok := d.scalar(n, path, "a "+v.Kind().String())
	if !ok {
		return false
	}
	switch v.Kind() {
	case reflect.Int:
		i, err := strconv.Atoi(s)
		if err != nil || n.Tag != "!!int" {
			d.fail(path, n.Line, fmt.Sprintf("%q is not a whole number", s), "write a number like 10")
			return false
		}
		v.SetInt(int64(i))
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || (n.Tag != "!!int" && n.Tag != "!!float") {
			d.fail(path, n.Line, fmt.Sprintf("%q is not a number", s), "write a number like 0.7")
			return false
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil || n.Tag != "!!bool" {
			d.fail(path, n.Line, fmt.Sprintf("%q is not true or false", s), "write true or false")
			return false
		}
		v.SetBool(b)
	}
	return true
}

// describe names a node's shape for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", clip(n.Value, 40))
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

// join appends a field name to a path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// yamlErrorLine finds the line number in a yaml.v3 error ("yaml: line 7: ..."), or 0.
func yamlErrorLine(err error) int {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+5:]
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(rest)
		}
		if n, err := strconv.Atoi(rest[:end]); err == nil {
			return n
		}
	}
	return 0
}

// yamlErrorText strips yaml.v3's "yaml: line N: " prefix.
func yamlErrorText(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(msg, "line ") {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	return msg
}

// clip shortens s to at most n runes for messages.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
