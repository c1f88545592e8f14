package incident

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file checks the shape of a JSON document against the Go type it is about to be decoded into, before
// encoding/json decodes it. encoding/json stops at the first problem, names a type error's field without
// array indexes, and names neither the place of an unknown field nor that of a bad timestamp. The checker
// walks the document in order and reports each problem with its JSON path, so that decoding afterwards
// cannot fail for a reason the user was not told about.

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
)

// errStop ends a shape check early: enough problems were collected.
var errStop = errors.New("stop")

// shapeChecker checks one JSON value against a Go type.
type shapeChecker struct {
	dec *json.Decoder
	// strict makes keys that the Go type does not have a problem (the native format); otherwise they are
	// skipped (Graph, which adds fields over time).
	strict bool
	probs  *problems
	// fields caches the JSON fields of each struct type met.
	fields map[reflect.Type]map[string]reflect.Type
}

// checkShape checks the JSON value data, found at path in the document, against the type t and adds the
// problems it finds to probs. data must be valid JSON.
func checkShape(data []byte, t reflect.Type, path string, strict bool, probs *problems) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	c := &shapeChecker{dec: dec, strict: strict, probs: probs, fields: map[reflect.Type]map[string]reflect.Type{}}
	if err := c.value(t, path); err != nil && !errors.Is(err, errStop) {
		probs.add(path, "invalid JSON: "+err.Error(), "correct the JSON syntax")
	}
}

func (c *shapeChecker) value(t reflect.Type, path string) error {
	tok, err := c.dec.Token()
	if err != nil {
		return err
	}
	return c.check(tok, t, path)
}

// check checks the value that starts with tok against t, reading the rest of it when it is an object or
// an array.
func (c *shapeChecker) check(tok json.Token, t reflect.Type, path string) error {
	if tok == nil {
		// null decodes to the zero value of any type.
		return nil
	}
	switch {
	case t == timeType:
		s, ok := tok.(string)
		if !ok {
			return c.wrongType(tok, "an RFC 3339 timestamp string", path)
		}
		var ts time.Time
		if err := ts.UnmarshalText([]byte(s)); err != nil {
			return c.add(path, fmt.Sprintf("%s is not an RFC 3339 timestamp", quote(s)),
				"write the date, time and zone like 2024-05-01T12:00:00Z")
		}
		return nil
	case t == rawMessageType || t.Kind() == reflect.Interface:
		return c.skip(tok)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return c.check(tok, t.Elem(), path)
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return c.wrongType(tok, "a string", path)
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return c.wrongType(tok, "true or false", path)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return c.wrongType(tok, "an integer", path)
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return c.add(path, fmt.Sprintf("%s is not an integer of at most %d bits", n, t.Bits()),
				"write a whole number without fraction or exponent")
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := tok.(json.Number); !ok {
			return c.wrongType(tok, "a number", path)
		}
	case reflect.Slice:
		if tok != json.Delim('[') {
			return c.wrongType(tok, "an array", path)
		}
		for i := 0; c.dec.More(); i++ {
			if err := c.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := c.dec.Token() // ]
		return err
	case reflect.Map:
		if tok != json.Delim('{') {
			return c.wrongType(tok, "an object", path)
		}
		for c.dec.More() {
			key, err := c.dec.Token()
			if err != nil {
				return err
			}
			if err := c.value(t.Elem(), keyPath(path, key.(string))); err != nil {
				return err
			}
		}
		_, err := c.dec.Token() // }
		return err
	case reflect.Struct:
		if tok != json.Delim('{') {
			return c.wrongType(tok, "an object", path)
		}
		return c.object(t, path)
	default:
		return fmt.Errorf("incident: no shape check for Go type %v", t)
	}
	return nil
}

// object checks the members of an object whose '{' was read against the struct type t.
func (c *shapeChecker) object(t reflect.Type, path string) error {
	fields := c.structFields(t)
	seen := map[string]bool{}
	for c.dec.More() {
		tok, err := c.dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		at := keyPath(path, key)
		if seen[key] {
			if err := c.add(at, "duplicate key", "keep only one of them"); err != nil {
				return err
			}
		}
		seen[key] = true

		ft, known := fields[key]
		if !known {
			// encoding/json matches keys without regard to case; check such a value as the field it
			// will land in.
			name := foldedField(fields, key)
			if c.strict {
				fix := "remove it or correct its spelling; the fields here are " + strings.Join(sortedKeys(fields), ", ")
				if name != "" {
					fix = fmt.Sprintf("did you mean %q? field names are case-sensitive", name)
				}
				if err := c.add(at, fmt.Sprintf("unknown field %s", quote(key)), fix); err != nil {
					return err
				}
			}
			if name == "" || c.strict {
				if err := c.skipValue(); err != nil {
					return err
				}
				continue
			}
			ft = fields[name]
		}
		if err := c.value(ft, at); err != nil {
			return err
		}
	}
	_, err := c.dec.Token() // }
	return err
}

// structFields lists the JSON member names of a struct type and their types, including those of embedded
// structs, as encoding/json sees them.
func (c *shapeChecker) structFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := c.fields[t]; ok {
		return f
	}
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for n, ft := range c.structFields(f.Type) {
				if _, taken := fields[n]; !taken {
					fields[n] = ft
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	c.fields[t] = fields
	return fields
}

// foldedField returns the field that key matches when case is ignored, or "". (No two fields of the
// structs checked here differ only in case, so at most one matches.)
func foldedField(fields map[string]reflect.Type, key string) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return name
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// add records a problem and stops the check once enough are collected.
func (c *shapeChecker) add(path, problem, fix string) error {
	c.probs.add(path, problem, fix)
	if c.probs.full() {
		return errStop
	}
	return nil
}

// wrongType records that the value starting with tok is not what the field needs, and skips it.
func (c *shapeChecker) wrongType(tok json.Token, want, path string) error {
	if err := c.add(path, fmt.Sprintf("expected %s, found %s", want, describeToken(tok)), "change the value to "+want); err != nil {
		return err
	}
	return c.skip(tok)
}

// skipValue reads and discards the next value.
func (c *shapeChecker) skipValue() error {
	tok, err := c.dec.Token()
	if err != nil {
		return err
	}
	return c.skip(tok)
}

// skip discards the rest of the value that starts with tok.
func (c *shapeChecker) skip(tok json.Token) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := c.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "the string " + quote(v)
	case json.Number:
		return "the number " + string(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return "null"
}

// quote quotes an outside string for an error message, cut short when long.
func quote(s string) string {
	const max = 80
	if r := []rune(s); len(r) > max {
		return strconv.Quote(string(r[:max])) + "..."
	}
	return strconv.Quote(s)
}

// keyPath appends an object member to a JSON path: $.a.b for plain names, $["@odata.type"] otherwise.
func keyPath(path, key string) string {
	if isPlainKey(key) {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

func isPlainKey(key string) bool {
	if key == "" {
		return false
	}
	for i, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// indexPath appends an array index to a JSON path.
func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// syntaxPath returns the JSON path of the last value read before the JSON syntax error in data, so that an
// error in a long one-line document (as Graph returns them) can say where in the tree it is.
func syntaxPath(data []byte) string {
	type frame struct {
		array   bool
		index   int    // arrays: index of the current element, -1 before the first
		key     string // objects: the current member
		wantKey bool   // objects: the next string is a key
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		b.WriteString("$")
		for _, f := range stack {
			switch {
			case f.array && f.index >= 0:
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			case !f.array && f.key != "":
				b.WriteString(keyPath("", f.key))
			}
		}
		return b.String()
	}
	// startValue notes in the enclosing container that a value begins.
	startValue := func() {
		if len(stack) == 0 {
			return
		}
		top := &stack[len(stack)-1]
		if top.array {
			top.index++
		} else {
			top.wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		switch tok {
		case json.Delim('{'):
			startValue()
			stack = append(stack, frame{wantKey: true})
		case json.Delim('['):
			startValue()
			stack = append(stack, frame{array: true, index: -1})
		case json.Delim('}'), json.Delim(']'):
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		default:
			if s, ok := tok.(string); ok && len(stack) > 0 && !stack[len(stack)-1].array && stack[len(stack)-1].wantKey {
				stack[len(stack)-1].key = s
				stack[len(stack)-1].wantKey = false
				continue
			}
			startValue()
		}
	}
}
