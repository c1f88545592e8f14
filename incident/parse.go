package incident

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"unicode/utf8"
)

// MaxDocumentSize is the largest document Parse accepts: 16 MiB.
const MaxDocumentSize = 16 << 20

// ParseFile reads the file at path and parses it with Parse, naming the file in errors.
func ParseFile(path string) ([]Incident, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// ReadFile reads an incident document for Parse: at most one byte more than MaxDocumentSize, so that
// Parse sees a document that is too large as such.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	return data, nil
}

// NextLink is the @odata.nextLink of a Graph list page: the document holds only the first incidents of a
// longer list, and the rest are at that URL. Empty when the document is not such a page. Parse takes the
// page as it is; callers tell the user the list goes on.
func NextLink(data []byte) string {
	var page struct {
		NextLink string `json:"@odata.nextLink"`
	}
	if len(data) > MaxDocumentSize || json.Unmarshal(data, &page) != nil {
		return ""
	}
	return page.NextLink
}

// Parse parses a JSON document holding one or more incidents. name names the document in errors (a file
// path, or a short description like "request body").
//
// It accepts:
//   - a Microsoft Graph security API v1.0 incident with its alerts expanded
//     (GET /security/incidents/{id}?$expand=alerts), or a page of a Graph list of them
//     ({"value": [...], "@odata.context": ...}). Fields the model does not use are ignored; evidence of a
//     type the model does not know becomes a generic entity; Graph's unknownFutureValue becomes unknown;
//     an alert must belong to the incident's tenant;
//   - the native format, the JSON encoding of Incident: one incident, {"value": [...]}, or a JSON array
//     of incidents. Unknown fields are errors.
//
// Every incident is validated (see Incident.Validate). Bad input is refused as a whole: on error Parse
// returns no incidents and an error that is a ParseErrors (up to 20 problems) whose every element is a
// *ParseError naming the document, the JSON path, the problem and the fix. A list with no incidents parses
// to none, without error.
func Parse(name string, data []byte) ([]Incident, error) {
	refuse := func(e *ParseError) ([]Incident, error) {
		e.File = name
		return nil, ParseErrors{e}
	}
	if len(data) > MaxDocumentSize {
		return refuse(&ParseError{
			Path:    "$",
			Problem: fmt.Sprintf("document is larger than %d bytes (16 MiB)", MaxDocumentSize),
			Fix:     "split it into several documents, for example one incident per file",
		})
	}
	if bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return refuse(&ParseError{Problem: "document is UTF-16 encoded", Fix: "save it as UTF-8 (PowerShell: Out-File -Encoding utf8)"})
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF")) // a UTF-8 byte order mark says nothing
	if bad := invalidUTF8Offset(data); bad >= 0 {
		line, column := lineColumn(data, bad)
		return refuse(&ParseError{
			Line: line, Column: column,
			Problem: fmt.Sprintf("text is not valid UTF-8 at line %d, column %d", line, column),
			Fix:     "save the document as UTF-8",
		})
	}
	if err := syntaxError(data); err != nil {
		return refuse(err)
	}
	doc, err := detect(data)
	if err != nil {
		return refuse(err)
	}
	if doc.format == "" {
		return []Incident{}, nil // an empty list
	}

	// Decode, then validate what could be decoded, so that one error lists as many problems as it can.
	probs := &problems{file: name}
	var incidents []Incident
	switch doc.format {
	case SourceNative:
		incidents = decodeNative(data, doc.layout, probs)
	case SourceGraph:
		incidents = decodeGraphDocument(data, doc.layout, probs)
	}
	names := fieldNames{graph: doc.format == SourceGraph}
	for k := range incidents {
		if probs.full() {
			break
		}
		normalize(&incidents[k])
		incidents[k].Source = doc.format
		validateIncident(&incidents[k], doc.itemPath(k), names, probs)
	}
	if probs.found() {
		return nil, probs.err()
	}
	return incidents, nil
}

// invalidUTF8Offset returns the offset of the first byte of data that is not valid UTF-8, or -1.
func invalidUTF8Offset(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// syntaxError returns the JSON syntax error of data, with its line, column and the JSON path near it, or
// nil when data is one well-formed JSON value.
func syntaxError(data []byte) *ParseError {
	var raw json.RawMessage
	err := json.Unmarshal(data, &raw)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return &ParseError{Path: "$", Problem: "invalid JSON: " + err.Error(), Fix: "correct the JSON syntax"}
	}
	// The offset is just past the offending byte, or the end of the data when it ended too soon.
	at := int(se.Offset)
	if at < len(data) || !strings.HasPrefix(se.Error(), "unexpected end") {
		at--
	}
	line, column := lineColumn(data, at)
	return &ParseError{
		Path:    syntaxPath(data),
		Line:    line,
		Column:  column,
		Problem: fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, column, se.Error()),
		Fix:     "correct the JSON syntax; the document must be one JSON object or array",
	}
}

// layout is how the incidents sit in a document.
type layout int

const (
	layoutSingle layout = iota // the document is one incident
	layoutList                 // {"value": [...]}
	layoutArray                // [...]
)

// document is what detect learned about a document.
type document struct {
	format Source
	layout layout
	items  []json.RawMessage
}

// itemPath is the JSON path of the k-th incident.
func (d document) itemPath(k int) string {
	switch d.layout {
	case layoutList:
		return indexPath("$.value", k)
	case layoutArray:
		return indexPath("$", k)
	}
	return "$"
}

// Field names that only one format has at the top of an incident.
var (
	nativeMarkers = []string{"title", "createdAt", "lastUpdatedAt", "webUrl"}
	graphMarkers  = []string{"displayName", "createdDateTime", "lastUpdateDateTime", "incidentWebUrl", "@odata.type", "@odata.context"}
)

// formatHelp says what each format looks like, for a document whose format cannot be told.
const formatHelp = `a Graph incident (GET /security/incidents/{id}?$expand=alerts) has displayName, createdDateTime ` +
	`and lastUpdateDateTime, and a Graph list is {"value": [incidents], "@odata.context": ...}; ` +
	`a native incident has tenantId, id, title, severity, status, createdAt and alerts, ` +
	`as one object, a JSON array of them or {"value": [...]}`

// detect finds the incidents of a well-formed document and tells its format by the field names it uses.
func detect(data []byte) (document, *ParseError) {
	var doc document
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	var top map[string]json.RawMessage
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		doc.layout = layoutArray
		if err := json.Unmarshal(data, &doc.items); err != nil {
			return doc, &ParseError{Path: "$", Problem: "invalid JSON: " + err.Error(), Fix: "correct the JSON syntax"}
		}
	case len(trimmed) > 0 && trimmed[0] == '{':
		if err := json.Unmarshal(data, &top); err != nil {
			return doc, &ParseError{Path: "$", Problem: "invalid JSON: " + err.Error(), Fix: "correct the JSON syntax"}
		}
		if value, ok := top["value"]; ok {
			doc.layout = layoutList
			if err := json.Unmarshal(value, &doc.items); err != nil {
				return doc, &ParseError{
					Path:    "$.value",
					Problem: "expected an array of incidents, found " + describeJSON(value),
					Fix:     `a list of incidents is {"value": [incident, ...]}`,
				}
			}
		} else {
			doc.layout = layoutSingle
			doc.items = []json.RawMessage{data}
		}
	default:
		return doc, &ParseError{
			Path:    "$",
			Problem: "expected a JSON object or array, found " + describeJSON(trimmed),
			Fix:     formatHelp,
		}
	}

	// An OData annotation on the document marks a Graph response.
	for key := range top {
		if strings.HasPrefix(key, "@odata.") {
			doc.format = SourceGraph
			return doc, nil
		}
	}
	for _, item := range doc.items {
		var fields map[string]json.RawMessage
		if json.Unmarshal(item, &fields) != nil {
			continue // not an object: the shape check will say so
		}
		for _, m := range nativeMarkers {
			if _, ok := fields[m]; ok {
				doc.format = SourceNative
				return doc, nil
			}
		}
		for _, m := range graphMarkers {
			if _, ok := fields[m]; ok {
				doc.format = SourceGraph
				return doc, nil
			}
		}
	}
	if len(doc.items) == 0 {
		return doc, nil
	}
	return doc, &ParseError{
		Path:    "$",
		Problem: "cannot tell whether this is a Microsoft Graph or a native incident document",
		Fix:     formatHelp,
	}
}

// describeJSON names the JSON type of a value for an error message.
func describeJSON(data []byte) string {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return "nothing"
	}
	switch trimmed[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// nativeList is the native format's list of incidents.
type nativeList struct {
	Value []Incident `json:"value"`
}

// decodeNative decodes a native document strictly.
func decodeNative(data []byte, l layout, probs *problems) []Incident {
	switch l {
	case layoutList:
		var list nativeList
		if !decodeStrict(data, &list, probs) {
			return nil
		}
		return list.Value
	case layoutArray:
		var incidents []Incident
		if !decodeStrict(data, &incidents, probs) {
			return nil
		}
		return incidents
	}
	var inc Incident
	if !decodeStrict(data, &inc, probs) {
		return nil
	}
	return []Incident{inc}
}

// decodeStrict type-checks data against v's type, unknown fields included, and decodes it into v.
func decodeStrict(data []byte, v any, probs *problems) bool {
	checkShape(data, reflect.TypeOf(v).Elem(), "$", true, probs)
	if probs.found() {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		probs.add("$", "cannot decode: "+err.Error(), "correct the document")
		return false
	}
	return true
}

// decodeGraphDocument decodes a Graph document and maps its incidents into the model.
func decodeGraphDocument(data []byte, l layout, probs *problems) []Incident {
	var graphIncidents []graphIncident
	switch l {
	case layoutList:
		list, ok := decodeGraph[graphList](data, "$", probs)
		if !ok {
			return nil
		}
		graphIncidents = list.Value
	case layoutArray:
		all, ok := decodeGraph[[]graphIncident](data, "$", probs)
		if !ok {
			return nil
		}
		graphIncidents = *all
	default:
		one, ok := decodeGraph[graphIncident](data, "$", probs)
		if !ok {
			return nil
		}
		graphIncidents = []graphIncident{*one}
	}
	doc := document{layout: l}
	incidents := make([]Incident, 0, len(graphIncidents))
	for k := range graphIncidents {
		incidents = append(incidents, graphIncidentToModel(&graphIncidents[k], doc.itemPath(k), probs))
		if probs.full() {
			break
		}
	}
	return incidents
}

// normalize puts a parsed incident in the one form that its native JSON parses back to: timestamps in
// UTC, empty optional lists and maps as nil, and alerts and entities as non-nil lists.
func normalize(i *Incident) {
	i.CustomTags = nilIfEmpty(i.CustomTags)
	i.SystemTags = nilIfEmpty(i.SystemTags)
	i.CreatedAt = i.CreatedAt.UTC()
	i.LastUpdatedAt = i.LastUpdatedAt.UTC()
	if i.Alerts == nil {
		i.Alerts = []Alert{}
	}
	for j := range i.Alerts {
		a := &i.Alerts[j]
		a.MitreTechniques = nilIfEmpty(a.MitreTechniques)
		a.CreatedAt = a.CreatedAt.UTC()
		a.FirstActivityAt = a.FirstActivityAt.UTC()
		a.LastActivityAt = a.LastActivityAt.UTC()
		if a.Entities == nil {
			a.Entities = []Entity{}
		}
		for k := range a.Entities {
			normalizeEntity(&a.Entities[k])
		}
	}
}

func normalizeEntity(e *Entity) {
	e.Roles = nilIfEmpty(e.Roles)
	e.DetailedRoles = nilIfEmpty(e.DetailedRoles)
	e.Tags = nilIfEmpty(e.Tags)
	e.CreatedAt = e.CreatedAt.UTC()
	if d := e.Device; d != nil {
		d.LoggedOnUsers = nilIfEmpty(d.LoggedOnUsers)
		d.IPAddresses = nilIfEmpty(d.IPAddresses)
	}
	if m := e.AnalyzedMessage; m != nil {
		m.URLs = nilIfEmpty(m.URLs)
		m.AttachmentSHA256s = nilIfEmpty(m.AttachmentSHA256s)
		m.ThreatDetectionMethods = nilIfEmpty(m.ThreatDetectionMethods)
		m.Threats = nilIfEmpty(m.Threats)
		m.ReceivedAt = m.ReceivedAt.UTC()
	}
	if p := e.Process; p != nil {
		p.CreatedAt = p.CreatedAt.UTC()
	}
	if m := e.MailCluster; m != nil {
		m.NetworkMessageIDs = nilIfEmpty(m.NetworkMessageIDs)
	}
	if g := e.Generic; g != nil && len(g.Properties) == 0 {
		g.Properties = nil
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
