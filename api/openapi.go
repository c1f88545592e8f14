package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"gopkg.in/yaml.v3"
)

// openapiYAML is the OpenAPI 3 document of the API.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPIYAML returns the OpenAPI 3 document of the API (served at GET /v1/openapi.yaml).
func OpenAPIYAML() []byte { return slices.Clone(openapiYAML) }

// openapiJSON converts the document once.
var openapiJSON = sync.OnceValues(func() ([]byte, error) { return yamlToJSON(openapiYAML) })

// OpenAPIJSON returns the same document as JSON (served at GET /v1/openapi.json).
func OpenAPIJSON() ([]byte, error) {
	b, err := openapiJSON()
	if err != nil {
		return nil, err
	}
	return slices.Clone(b), nil
}

// yamlToJSON converts a YAML document to JSON: mappings become objects (non-string keys, such as
// status codes written unquoted, become their string form).
func yamlToJSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("openapi: parse the YAML: %w", err)
	}
	v, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi: encode JSON: %w", err)
	}
	return b, nil
}

func jsonValue(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			c, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			c, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			c, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case nil, bool, string, int, int64, uint64, float64:
		return t, nil
	}
	return nil, fmt.Errorf("openapi: a YAML value of type %T has no JSON form", v)
}
