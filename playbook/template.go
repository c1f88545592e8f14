package playbook

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/guided-response/guided/incident"
)

// Data is what card templates see: {{.Entity.Name}}, {{.Alert.Title}}, {{range .Alerts}}...{{end}}. It holds
// strings and lists only (no numbers, no methods), so that a template cannot loop for long or call out.
// Every value comes from the incident and is outside input: a query template must pass each one through
// kqlString (or kqlStrings, kqlInt, kqlDatetime).
type Data struct {
	Incident IncidentData
	// Entity is the entity the card targets; empty for incident-wide cards (entity: none).
	Entity EntityData
	// Alert is the most severe of the alerts that matched the rule (the first of them on a tie).
	Alert AlertData
	// Alerts are the alerts that matched the rule, in the incident's order; AlertIDs their ids.
	Alerts   []AlertData
	AlertIDs []string
}

// IncidentData describes the incident.
type IncidentData struct {
	TenantID, ID, Title, Severity string
	// CreatedAt is RFC 3339.
	CreatedAt string
}

// AlertData describes one alert.
type AlertData struct {
	ID, Title, Severity, Category, DetectionSource, ServiceSource string
	Techniques                                                    []string
	// FirstActivity and LastActivity are RFC 3339, empty when unknown.
	FirstActivity, LastActivity string
}

// EntityData describes the targeted entity. Fields that do not apply to its kind are empty.
type EntityData struct {
	Key, Kind, Name, Verdict, RemediationStatus string
	Roles                                       []string
	// Device: MDE device id and DNS name (also set for files, processes and registry values seen on a
	// device).
	DeviceID, DeviceName string
	// User (also the account of a mailbox or of a process).
	UserPrincipalName, AccountName, AccountDomain, AccountSID, AadUserID string
	// Mailbox.
	MailboxAddress string
	// Email (analyzedMessage): Sender is the From address (P2), or the envelope sender (P1).
	NetworkMessageID, InternetMessageID, Subject, Sender, SenderIP, Recipient string
	// File, or a process's image file.
	FileName, FilePath, SHA1, SHA256 string
	// Process: ProcessID is decimal text; use kqlInt to put it in a query.
	ProcessID, CommandLine string
	IPAddress              string
	URL                    string
	// Domain is a URL's host name or an email sender's domain.
	Domain string
	// OAuth or cloud application.
	AppID, AppName string
}

// funcs are the functions templates may call besides text/template's built-ins.
var funcs = template.FuncMap{
	"kqlString":   KQLString,
	"kqlStrings":  kqlStrings,
	"kqlInt":      kqlInt,
	"kqlDatetime": kqlDatetime,
	"join":        strings.Join,
	"lower":       strings.ToLower,
	"upper":       strings.ToUpper,
	// index and slice replace the built-ins: out of range gives an empty value instead of failing, since
	// an incident may hold fewer alerts or techniques than the sample a template was checked on.
	"index": safeIndex,
	"slice": safeSlice,
}

// queryFuncs are the functions whose result a query may print: each returns a complete KQL literal.
var queryFuncs = map[string]bool{"kqlString": true, "kqlStrings": true, "kqlInt": true, "kqlDatetime": true}

// KQLString returns s as a KQL string literal in double quotes that holds exactly s: backslash and double
// quote are escaped, tab, newline and carriage return become \t \n \r, every other control or invisible
// formatting character (C0, DEL, C1, bidi overrides, zero-width and tag characters, line and paragraph
// separators) becomes \uXXXX (\UXXXXXXXX above U+FFFF), and invalid UTF-8 becomes U+FFFD. The result never
// contains a raw quote, backslash or line break of s, so s cannot end the literal.
func KQLString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			switch {
			case r == utf8.RuneError && size == 1:
				b.WriteString(`\uFFFD`)
			case invisible(r) && r > 0xFFFF:
				fmt.Fprintf(&b, `\U%08X`, r)
			case invisible(r):
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// invisible reports whether r is a control, formatting or separator character that a reader of a query
// would not see as itself.
func invisible(r rune) bool {
	return r < 0x20 || r == 0x7F || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs) ||
		(!unicode.IsPrint(r) && r != ' ')
}

// kqlStrings returns the values as a KQL dynamic array of string literals: dynamic(["a", "b"]).
func kqlStrings(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = KQLString(v)
	}
	return "dynamic([" + strings.Join(quoted, ", ") + "])"
}

// kqlInt returns the decimal integer in s as a KQL long literal, long(null) when s is empty, or an error
// when s is not an integer.
func kqlInt(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "long(null)", nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return "", fmt.Errorf("kqlInt: %q is not an integer", s)
	}
	return strconv.FormatInt(n, 10), nil
}

// kqlDatetime returns the RFC 3339 time in s as a KQL datetime literal, datetime(null) when s is empty, or
// an error when s is not a time.
func kqlDatetime(s string) (string, error) {
	if s == "" {
		return "datetime(null)", nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", fmt.Errorf("kqlDatetime: %q is not an RFC 3339 time", s)
	}
	return "datetime(" + t.UTC().Format(time.RFC3339Nano) + ")", nil
}

// safeIndex is text/template's index, except that an index out of range gives the element type's zero value.
func safeIndex(item reflect.Value, indexes ...reflect.Value) (reflect.Value, error) {
	v := indirectValue(item)
	if !v.IsValid() {
		return reflect.Value{}, errors.New("index of untyped nil")
	}
	for _, index := range indexes {
		i, err := intArg(index)
		if err != nil {
			return reflect.Value{}, err
		}
		switch v.Kind() {
		case reflect.Slice, reflect.Array:
			if i < 0 || i >= v.Len() {
				v = reflect.Zero(v.Type().Elem())
			} else {
				v = indirectValue(v.Index(i))
			}
		case reflect.String:
			if i < 0 || i >= v.Len() {
				v = reflect.Zero(reflect.TypeFor[byte]())
			} else {
				v = v.Index(i)
			}
		default:
			return reflect.Value{}, fmt.Errorf("can't index item of type %s", v.Type())
		}
	}
	return v, nil
}

// safeSlice is text/template's slice with at most two indexes, clamped to the length.
func safeSlice(item reflect.Value, indexes ...reflect.Value) (reflect.Value, error) {
	v := indirectValue(item)
	if !v.IsValid() {
		return reflect.Value{}, errors.New("slice of untyped nil")
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array, reflect.String:
	default:
		return reflect.Value{}, fmt.Errorf("can't slice item of type %s", v.Type())
	}
	if len(indexes) > 2 {
		return reflect.Value{}, errors.New("slice takes at most two indexes")
	}
	bounds := []int{0, v.Len()}
	for k, index := range indexes {
		i, err := intArg(index)
		if err != nil {
			return reflect.Value{}, err
		}
		bounds[k] = min(max(i, 0), v.Len())
	}
	if bounds[1] < bounds[0] {
		bounds[1] = bounds[0]
	}
	return v.Slice(bounds[0], bounds[1]), nil
}

func indirectValue(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

func intArg(v reflect.Value) (int, error) {
	v = indirectValue(v)
	if !v.IsValid() {
		return 0, errors.New("cannot index with nil")
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		if n > math.MaxInt32 || n < math.MinInt32 {
			return -1, nil
		}
		return int(n), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n := v.Uint()
		if n > math.MaxInt32 {
			return -1, nil
		}
		return int(n), nil
	}
	return 0, fmt.Errorf("cannot index with type %s", v.Type())
}

// maxTemplateOutput bounds what one template may write.
const maxTemplateOutput = 64 << 10

var errTooLong = errors.New("template output is longer than 64 KiB")

// limitedBuilder is a strings.Builder that refuses to grow past maxTemplateOutput.
type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxTemplateOutput {
		return 0, errTooLong
	}
	return b.Builder.Write(p)
}

// render executes t on data.
func render(t *template.Template, data *Data) (string, error) {
	var b limitedBuilder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// parseTemplate parses text as a card template and checks its shape: no {{define}}, {{template}} or
// {{block}}, no range inside a range, ranges only over fields of the data. For query templates every
// {{...}} that prints must end in kqlString, kqlStrings, kqlInt or kqlDatetime.
func parseTemplate(name, text string, query bool) (*template.Template, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("{{define}} and {{block}} are not allowed")
	}
	if t.Tree == nil || t.Root == nil {
		return t, nil
	}
	if err := checkNodes(t.Root, query, 0); err != nil {
		return nil, err
	}
	return t, nil
}

// checkNodes walks a template's tree; ranges counts the enclosing range actions.
func checkNodes(list *parse.ListNode, query bool, ranges int) error {
	if list == nil {
		return nil
	}
	for _, n := range list.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			if query && len(n.Pipe.Decl) == 0 && !endsInQueryFunc(n.Pipe) {
				return fmt.Errorf("%s prints a value into the query without escaping it: end it with | kqlString (or kqlStrings, kqlInt, kqlDatetime)", n)
			}
		case *parse.IfNode:
			if err := checkBranch(&n.BranchNode, query, ranges); err != nil {
				return err
			}
		case *parse.WithNode:
			if err := checkBranch(&n.BranchNode, query, ranges); err != nil {
				return err
			}
		case *parse.RangeNode:
			if ranges > 0 {
				return errors.New("a range inside a range is not allowed")
			}
			if !rangeOverField(n.Pipe) {
				return fmt.Errorf("{{range %s}} is not allowed: range over a list field such as .Alerts or .Entity.Roles", n.Pipe)
			}
			if err := checkBranch(&n.BranchNode, query, ranges+1); err != nil {
				return err
			}
		case *parse.TemplateNode:
			return errors.New("{{template}} is not allowed")
		}
	}
	return nil
}

func checkBranch(b *parse.BranchNode, query bool, ranges int) error {
	if err := checkNodes(b.List, query, ranges); err != nil {
		return err
	}
	return checkNodes(b.ElseList, query, ranges)
}

// endsInQueryFunc reports whether the pipeline's last command calls a function that returns a KQL literal.
func endsInQueryFunc(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) == 0 {
		return false
	}
	last := p.Cmds[len(p.Cmds)-1]
	if len(last.Args) == 0 {
		return false
	}
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && queryFuncs[id.Ident]
}

// rangeOverField reports whether a range pipeline is a single field path: .Alerts, $.Alerts, $a.Techniques.
func rangeOverField(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch arg := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return true
	case *parse.VariableNode:
		return len(arg.Ident) > 1
	}
	return false
}

// dataFor builds the template data of a card.
func dataFor(inc *incident.Incident, e *incident.Entity, matched []*incident.Alert) *Data {
	d := &Data{
		Incident: IncidentData{
			TenantID: inc.TenantID, ID: inc.ID, Title: inc.Title, Severity: string(inc.Severity),
			CreatedAt: formatTime(inc.CreatedAt),
		},
	}
	if e != nil {
		d.Entity = entityData(e)
	}
	var top *incident.Alert
	for _, a := range matched {
		ad := alertData(a)
		d.Alerts = append(d.Alerts, ad)
		d.AlertIDs = append(d.AlertIDs, a.ID)
		if top == nil || a.Severity.Rank() > top.Severity.Rank() {
			top = a
		}
	}
	if top != nil {
		d.Alert = alertData(top)
	}
	return d
}

func alertData(a *incident.Alert) AlertData {
	return AlertData{
		ID: a.ID, Title: a.Title, Severity: string(a.Severity), Category: a.Category,
		DetectionSource: a.DetectionSource, ServiceSource: a.ServiceSource,
		Techniques:    append([]string(nil), a.MitreTechniques...),
		FirstActivity: formatTime(a.FirstActivityAt), LastActivity: formatTime(a.LastActivityAt),
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// entityData flattens an entity for templates.
func entityData(e *incident.Entity) EntityData {
	d := EntityData{
		Key: e.Key(), Kind: string(e.Kind), Name: e.Name(), Verdict: string(e.Verdict),
		RemediationStatus: string(e.RemediationStatus), Domain: domainOf(e),
	}
	for _, r := range e.Roles {
		d.Roles = append(d.Roles, string(r))
	}
	user := func(u *incident.UserAccount) {
		if u == nil {
			return
		}
		d.UserPrincipalName, d.AccountName, d.AccountDomain = u.UserPrincipalName, u.AccountName, u.DomainName
		d.AccountSID, d.AadUserID = u.UserSID, u.AzureADUserID
	}
	file := func(f *incident.File) {
		if f == nil {
			return
		}
		d.FileName, d.FilePath, d.SHA1, d.SHA256 = f.FileName, f.FilePath, f.SHA1, f.SHA256
		if d.DeviceID == "" {
			d.DeviceID = f.MdeDeviceID
		}
	}
	switch e.Kind {
	case incident.KindDevice:
		if v := e.Device; v != nil {
			d.DeviceID, d.DeviceName = v.MdeDeviceID, v.DNSName
		}
	case incident.KindUser:
		user(e.User)
	case incident.KindMailbox:
		if v := e.Mailbox; v != nil {
			d.MailboxAddress = v.PrimaryAddress
			user(v.UserAccount)
		}
	case incident.KindAnalyzedMessage:
		if v := e.AnalyzedMessage; v != nil {
			d.NetworkMessageID, d.InternetMessageID, d.Subject = v.NetworkMessageID, v.InternetMessageID, v.Subject
			d.Sender, d.SenderIP, d.Recipient = senderOf(v), v.SenderIP, v.RecipientEmailAddress
		}
	case incident.KindFile:
		file(e.File)
	case incident.KindProcess:
		if v := e.Process; v != nil {
			d.DeviceID = v.MdeDeviceID
			if v.ProcessID > 0 {
				d.ProcessID = strconv.FormatInt(v.ProcessID, 10)
			}
			d.CommandLine = v.CommandLine
			file(v.ImageFile)
			user(v.UserAccount)
		}
	case incident.KindIP:
		if v := e.IP; v != nil {
			d.IPAddress = v.Address
		}
	case incident.KindURL:
		if v := e.URL; v != nil {
			d.URL = v.URL
		}
	case incident.KindOAuthApplication:
		if v := e.OAuthApplication; v != nil {
			d.AppID, d.AppName = v.AppID, v.DisplayName
		}
	case incident.KindCloudApplication:
		if v := e.CloudApplication; v != nil {
			if v.AppID != 0 {
				d.AppID = strconv.FormatInt(v.AppID, 10)
			}
			d.AppName = v.DisplayName
		}
	case incident.KindRegistryValue:
		if v := e.RegistryValue; v != nil {
			d.DeviceID = v.MdeDeviceID
		}
	}
	return d
}

// hostileSample and plainSample make the strings of sample data: the first holds every character that
// could end or change a KQL literal, the second only letters. A query template rendered from both must
// have the same shape outside its string literals (see checkQuery).
func hostileSample(field string) string {
	return field + "\"'\\`~```~~~\n// @\" h' \r\t\x00\u202e|;"
}

func plainSample(field string) string { return field }

// sampleData returns template data for checking a template at load time: every field set, each string
// made by value from the field's name; kind is the entity kind ("" for entity: none).
func sampleData(kind incident.EntityKind, value func(field string) string) *Data {
	s := value
	alert := AlertData{
		ID: s("alert"), Title: s("title"), Severity: "high", Category: "Execution",
		DetectionSource: s("source"), ServiceSource: s("service"),
		Techniques:    []string{"T1059.001", s("technique")},
		FirstActivity: "2024-05-14T08:13:58Z", LastActivity: "2024-05-14T08:14:09Z",
	}
	d := &Data{
		Incident: IncidentData{TenantID: s("tenant"), ID: s("incident"),
			Title: s("incidentTitle"), Severity: "high", CreatedAt: "2024-05-14T08:03:12Z"},
		Alert: alert, Alerts: []AlertData{alert}, AlertIDs: []string{alert.ID},
	}
	if kind == "" {
		return d
	}
	d.Entity = EntityData{
		Key: s("key"), Kind: string(kind), Name: s("name"), Verdict: "malicious", RemediationStatus: "none",
		Roles:    []string{"compromised", s("role")},
		DeviceID: s("device"), DeviceName: s("host"),
		UserPrincipalName: s("upn"), AccountName: s("account"), AccountDomain: s("domain"),
		AccountSID: s("sid"), AadUserID: s("aad"), MailboxAddress: s("mailbox"),
		NetworkMessageID: s("nmid"), InternetMessageID: s("imid"), Subject: s("subject"), Sender: s("sender"),
		SenderIP: s("senderip"), Recipient: s("recipient"),
		FileName: s("file"), FilePath: s("path"), SHA1: s("sha1"), SHA256: s("sha256"),
		ProcessID: "4242", CommandLine: s("cmd"), IPAddress: s("ip"), URL: s("url"), Domain: s("domain"),
		AppID: s("app"), AppName: s("appname"),
	}
	return d
}

// checkQuery compares a query template rendered from plain and from hostile sample data. Both must lex,
// and their skeletons (the text with each double- or single-quoted string literal replaced by a
// placeholder) must be equal: then every value landed as a whole literal of its own, since a value that
// landed inside quotes of the template's, in a comment, in a verbatim or multi-line literal, or outside
// any literal would change the hostile rendering's skeleton. KQLString's literals lex the same whatever
// they hold, so a query that passes keeps its shape for every value.
func checkQuery(plain, hostile string) error {
	a, err := skeleton(plain)
	if err != nil {
		return err
	}
	b, err := skeleton(hostile)
	if err != nil {
		return fmt.Errorf("with hostile values: %w", err)
	}
	if a != b {
		return errors.New("a value does not land as a literal of its own: do not wrap kqlString's result in quotes, comments or verbatim literals; it makes the whole literal")
	}
	return nil
}

// skeleton lexes a query and replaces each string literal by a placeholder.
func skeleton(q string) (string, error) {
	tokens, err := lexKQL(q)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	at := 0
	for _, t := range tokens {
		if t.kind != tokenString {
			continue
		}
		b.WriteString(q[at:t.start])
		b.WriteString("\x00s\x00")
		at = t.end
	}
	b.WriteString(q[at:])
	return b.String(), nil
}

type tokenKind int

const (
	tokenString tokenKind = iota + 1 // "..." or '...' with backslash escapes
	tokenOther                       // verbatim, multi-line literals and comments: values must not land in them
)

type token struct {
	kind       tokenKind
	start, end int
}

// lexKQL finds the string literals and comments of a KQL query: "..." and '...' with backslash escapes
// (h and H prefixes included), verbatim @"..." and @'...' where the quote is doubled, multi-line ```...```
// and ~~~...~~~, and // comments. Everything else is left alone. It fails on a literal that does not end.
func lexKQL(q string) ([]token, error) {
	var tokens []token
	for i := 0; i < len(q); {
		switch {
		case strings.HasPrefix(q[i:], "//"):
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			tokens = append(tokens, token{tokenOther, i, i + end})
			i += end
		case strings.HasPrefix(q[i:], "```") || strings.HasPrefix(q[i:], "~~~"):
			end := strings.Index(q[i+3:], q[i:i+3])
			if end < 0 {
				return nil, errors.New("a multi-line string literal does not end")
			}
			tokens = append(tokens, token{tokenOther, i, i + 3 + end + 3})
			i += 3 + end + 3
		case q[i] == '@' && i+1 < len(q) && (q[i+1] == '"' || q[i+1] == '\''):
			quote := q[i+1]
			j := i + 2
			for {
				if j >= len(q) || q[j] == '\n' || q[j] == '\r' {
					return nil, errors.New("a verbatim string literal does not end")
				}
				if q[j] == quote {
					if j+1 < len(q) && q[j+1] == quote {
						j += 2
						continue
					}
					break
				}
				j++
			}
			tokens = append(tokens, token{tokenOther, i, j + 1})
			i = j + 1
		case q[i] == '"' || q[i] == '\'':
			quote := q[i]
			j := i + 1
			for {
				if j >= len(q) || q[j] == '\n' || q[j] == '\r' {
					return nil, errors.New("a string literal does not end on its line")
				}
				if q[j] == '\\' {
					j += 2
					continue
				}
				if q[j] == quote {
					break
				}
				j++
			}
			tokens = append(tokens, token{tokenString, i, j + 1})
			i = j + 1
		default:
			i++
		}
	}
	return tokens, nil
}
