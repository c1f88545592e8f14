package api

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/workflows"
)

// openapiDoc is the document parsed from YAML into plain maps.
func openapiDoc(t *testing.T) map[string]any {
	t.Helper()
	var raw any
	if err := yaml.Unmarshal(OpenAPIYAML(), &raw); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	v, err := jsonValue(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

func obj(t *testing.T, v any, path string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, not an object", path, v)
	}
	return m
}

func TestOpenAPIDocument(t *testing.T) {
	doc := openapiDoc(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi = %v, want 3.x", doc["openapi"])
	}
	paths := obj(t, doc["paths"], "paths")
	want := map[string][]string{
		"/healthz":                                          {"get"},
		"/readyz":                                           {"get"},
		"/metrics":                                          {"get"},
		"/v1/openapi.yaml":                                  {"get"},
		"/v1/openapi.json":                                  {"get"},
		"/v1/incidents":                                     {"get", "post"},
		"/v1/incidents/{tenant}/{id}":                       {"get"},
		"/v1/incidents/{tenant}/{id}/summary":               {"get"},
		"/v1/incidents/{tenant}/{id}/cards":                 {"get"},
		"/v1/incidents/{tenant}/{id}/hunting":               {"get"},
		"/v1/incidents/{tenant}/{id}/report":                {"get"},
		"/v1/incidents/{tenant}/{id}/audit":                 {"get"},
		"/v1/incidents/{tenant}/{id}/similar":               {"get"},
		"/v1/incidents/{tenant}/{id}/classification":        {"post"},
		"/v1/incidents/{tenant}/{id}/cards/decisions":       {"post"},
		"/v1/incidents/{tenant}/{id}/cards/{card}/extend":   {"post"},
		"/v1/incidents/{tenant}/{id}/cards/{card}/undo":     {"post"},
		"/v1/incidents/{tenant}/{id}/cards/{card}/feedback": {"post"},
		"/v1/webhooks/{source}/decisions":                   {"post"},
	}
	for path, methods := range want {
		item, ok := paths[path]
		if !ok {
			t.Errorf("path %s is missing", path)
			continue
		}
		for _, m := range methods {
			if _, ok := obj(t, item, path)[m]; !ok {
				t.Errorf("%s %s is missing", strings.ToUpper(m), path)
			}
		}
	}

	// Every operation: a unique operationId, responses, its path parameters declared; the decision
	// endpoints answer the workflow's refusals.
	templ := regexp.MustCompile(`\{([^}]+)\}`)
	ids := map[string]string{}
	for path, item := range paths {
		it := obj(t, item, path)
		declared := map[string]bool{}
		collectPathParams(t, doc, it["parameters"], declared)
		for method, op := range it {
			if method == "parameters" {
				continue
			}
			o := obj(t, op, method+" "+path)
			id, _ := o["operationId"].(string)
			if id == "" {
				t.Errorf("%s %s: no operationId", method, path)
			} else if prev, dup := ids[id]; dup {
				t.Errorf("operationId %s is both %s and %s %s", id, prev, method, path)
			}
			ids[id] = method + " " + path
			responses := obj(t, o["responses"], method+" "+path+" responses")
			if len(responses) == 0 {
				t.Errorf("%s %s: no responses", method, path)
			}
			params := maps(declared)
			collectPathParams(t, doc, o["parameters"], params)
			for _, m := range templ.FindAllStringSubmatch(path, -1) {
				if !params[m[1]] {
					t.Errorf("%s %s: path parameter %s is not declared", method, path, m[1])
				}
			}
			if method == "post" && strings.Contains(path, "/{id}/") {
				for _, code := range []string{"200", "403", "409", "422"} {
					if _, ok := responses[code]; !ok {
						t.Errorf("%s %s: no %s answer", method, path, code)
					}
				}
			}
		}
	}

	// Only health is public; the rest needs a credential or, for webhooks, a signature.
	for path, item := range paths {
		for method, op := range obj(t, item, path) {
			if method == "parameters" {
				continue
			}
			sec, has := obj(t, op, path)["security"]
			public := has && len(sec.([]any)) == 0
			wantPublic := path == "/healthz" || path == "/readyz"
			if public != wantPublic {
				t.Errorf("%s %s: public = %v, want %v", method, path, public, wantPublic)
			}
		}
	}
	schemes := obj(t, obj(t, doc["components"], "components")["securitySchemes"], "securitySchemes")
	for _, s := range []string{"apiToken", "oidcJwt", "webhookSignature"} {
		if _, ok := schemes[s]; !ok {
			t.Errorf("security scheme %s is missing", s)
		}
	}

	// Every $ref points at something.
	walkRefs(doc, func(ref string) {
		if _, ok := resolve(doc, ref); !ok {
			t.Errorf("$ref %s does not resolve", ref)
		}
	})
}

func maps(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func collectPathParams(t *testing.T, doc map[string]any, params any, into map[string]bool) {
	t.Helper()
	list, _ := params.([]any)
	for _, p := range list {
		m := obj(t, p, "parameter")
		if ref, ok := m["$ref"].(string); ok {
			r, ok := resolve(doc, ref)
			if !ok {
				t.Fatalf("$ref %s does not resolve", ref)
			}
			m = obj(t, r, ref)
		}
		if m["in"] == "path" {
			if m["required"] != true {
				t.Errorf("path parameter %v is not required", m["name"])
			}
			into[m["name"].(string)] = true
		}
	}
}

func walkRefs(v any, fn func(string)) {
	switch t := v.(type) {
	case map[string]any:
		if ref, ok := t["$ref"].(string); ok {
			fn(ref)
		}
		for _, e := range t {
			walkRefs(e, fn)
		}
	case []any:
		for _, e := range t {
			walkRefs(e, fn)
		}
	}
}

func resolve(doc map[string]any, ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = doc
	for _, part := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestOpenAPIJSON(t *testing.T) {
	b, err := OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON map[string]any
	if err := json.Unmarshal(b, &fromJSON); err != nil {
		t.Fatalf("the JSON document does not parse: %v", err)
	}
	// The same document: compare both through JSON.
	fromYAML, _ := json.Marshal(openapiDoc(t))
	again, _ := json.Marshal(fromJSON)
	if string(fromYAML) != string(again) {
		t.Fatal("the JSON document differs from the YAML one")
	}
	// Callers get copies.
	OpenAPIYAML()[0] = 'X'
	if OpenAPIYAML()[0] == 'X' {
		t.Fatal("OpenAPIYAML hands out the embedded document")
	}
	b[0] = 'X'
	if c, _ := OpenAPIJSON(); c[0] == 'X' {
		t.Fatal("OpenAPIJSON hands out its cache")
	}
}

// TestOpenAPISchemasMatchGo keeps the schemas and the Go types in step: the properties of each schema are
// the JSON fields of its type. Decision bodies are the workflow inputs without the principal (who
// authenticated) and without the card (in the URL).
func TestOpenAPISchemasMatchGo(t *testing.T) {
	doc := openapiDoc(t)
	tests := []struct {
		schema string
		typ    any
		minus  []string
	}{
		{"Incident", incident.Incident{}, nil},
		{"Alert", incident.Alert{}, nil},
		{"Entity", incident.Entity{}, nil},
		{"Device", incident.Device{}, nil},
		{"AnalyzedMessage", incident.AnalyzedMessage{}, nil},
		{"Process", incident.Process{}, nil},
		{"File", incident.File{}, nil},
		{"Card", card.Card{}, nil},
		{"CardDecision", card.Decision{}, nil},
		{"ActionResult", card.Result{}, nil},
		{"CardView", workflows.CardView{}, nil},
		{"CardsOutput", workflows.CardsOutput{}, nil},
		{"StatusOutput", workflows.StatusOutput{}, nil},
		{"ClassificationRecord", workflows.ClassificationRecord{}, nil},
		{"RejectedMessage", workflows.RejectedMessage{}, nil},
		{"SummaryOutput", workflows.SummaryOutput{}, nil},
		{"ClassifyOutput", workflows.ClassifyOutput{}, nil},
		{"DecideOutput", workflows.DecideOutput{}, nil},
		{"FeedbackOutput", workflows.FeedbackOutput{}, nil},
		{"ClassifyInput", workflows.ClassifyInput{}, []string{"principal"}},
		{"DecideInput", workflows.DecideInput{}, []string{"principal"}},
		{"ExtendInput", workflows.ExtendInput{}, []string{"principal", "cardId"}},
		{"UndoInput", workflows.UndoInput{}, []string{"principal", "cardId"}},
		{"FeedbackInput", workflows.FeedbackInput{}, []string{"principal", "cardId"}},
	}
	schemas := obj(t, obj(t, doc["components"], "components")["schemas"], "schemas")
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			s, ok := schemas[tt.schema]
			if !ok {
				t.Fatalf("schema %s is missing", tt.schema)
			}
			got := schemaProperties(t, doc, s)
			want := jsonFields(reflect.TypeOf(tt.typ))
			want = slices.DeleteFunc(want, func(f string) bool { return slices.Contains(tt.minus, f) })
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("properties %v\nGo fields  %v", got, want)
			}
		})
	}
}

// schemaProperties lists a schema's property names, through allOf and $ref.
func schemaProperties(t *testing.T, doc map[string]any, s any) []string {
	t.Helper()
	m := obj(t, s, "schema")
	if ref, ok := m["$ref"].(string); ok {
		r, _ := resolve(doc, ref)
		return schemaProperties(t, doc, r)
	}
	var out []string
	if all, ok := m["allOf"].([]any); ok {
		for _, part := range all {
			out = append(out, schemaProperties(t, doc, part)...)
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for name := range props {
			out = append(out, name)
		}
	}
	return out
}

// jsonFields lists the JSON field names of a struct type, embedded structs flattened.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}
