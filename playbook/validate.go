package playbook

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
)

var (
	idPattern        = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	versionPattern   = regexp.MustCompile(`^v?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){0,2}(-[0-9A-Za-z.-]+)?$`)
	techniquePattern = regexp.MustCompile(`^[Tt][0-9]{4}(\.[0-9]{3})?$`)
	reactPattern     = regexp.MustCompile(`^RA[0-9]{4}$`)
	d3fendPattern    = regexp.MustCompile(`^D3-[A-Z0-9]{1,12}$`)
	paramPattern     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	categoryPattern  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,63}$`)
)

// knownAlertCategories are the alert categories Defender XDR uses (the ATT&CK tactics and its own). Other
// categories are accepted; one that is close to a known one but not equal is taken for a typo.
var knownAlertCategories = []string{
	"Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence",
	"PrivilegeEscalation", "DefenseEvasion", "CredentialAccess", "Discovery", "LateralMovement",
	"Collection", "CommandAndControl", "Exfiltration", "Impact", "Malware", "Ransomware",
	"SuspiciousActivity", "UnwantedSoftware", "Exploit",
}

var (
	allKinds = []incident.EntityKind{
		incident.KindDevice, incident.KindUser, incident.KindMailbox, incident.KindAnalyzedMessage,
		incident.KindFile, incident.KindProcess, incident.KindIP, incident.KindURL, incident.KindOAuthApplication,
		incident.KindCloudApplication, incident.KindRegistryKey, incident.KindRegistryValue,
		incident.KindSecurityGroup, incident.KindMailCluster, incident.KindGeneric,
	}
	allVerdicts = []incident.Verdict{
		incident.VerdictMalicious, incident.VerdictSuspicious, incident.VerdictUnknown, incident.VerdictNoThreatsFound,
	}
	allRoles = []incident.Role{
		incident.RoleUnknown, incident.RoleContextual, incident.RoleScanned, incident.RoleSource,
		incident.RoleDestination, incident.RoleCreated, incident.RoleAdded, incident.RoleCompromised,
		incident.RoleEdited, incident.RoleAttacked, incident.RoleAttacker, incident.RoleCommandAndControl,
		incident.RoleLoaded, incident.RoleSuspicious, incident.RolePolicyViolator,
	}
	allSeverities = []incident.Severity{
		incident.SeverityInformational, incident.SeverityLow, incident.SeverityMedium, incident.SeverityHigh,
	}
	playbookCategories = []card.Category{card.CategoryContainment, card.CategoryInvestigation, card.CategoryRemediation}
	risks              = []card.Risk{card.RiskLow, card.RiskMedium, card.RiskHigh}
)

// Defaults of optional card fields.
const (
	defaultRank       = 50
	defaultConfidence = 0.7
	maxTimeBox        = 30 * 24 * time.Hour
)

// validator checks one decoded file and compiles it.
type validator struct {
	file     string
	lines    map[string]int
	problems *problems
}

// line returns the line of path, or of its nearest parent that has one.
func (v *validator) line(path string) int {
	for p := path; ; {
		if l, ok := v.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return v.lines[""]
		}
		p = p[:i]
	}
}

func (v *validator) fail(path, problem, fix string) {
	v.problems.add(&Error{File: v.file, Line: v.line(path), Path: path, Problem: problem, Fix: fix})
}

// book validates a playbook; it returns nil when it has problems.
func (v *validator) book(raw *fileBook) *book {
	before := len(v.problems.list)
	b := &book{id: raw.ID, version: raw.Version, title: strings.TrimSpace(raw.Title), description: raw.Description}
	switch {
	case raw.ID == "":
		v.fail("id", "the playbook has no id", "add id: followed by a short lower-case name, like endpoint")
	case !idPattern.MatchString(raw.ID):
		v.fail("id", fmt.Sprintf("id %q is not a valid id", clip(raw.ID, 70)), "use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	switch {
	case raw.Version == "":
		v.fail("version", "the playbook has no version", "add version: 1.0.0 and raise it on every change")
	case !versionPattern.MatchString(raw.Version):
		v.fail("version", fmt.Sprintf("version %q is not a semantic version", clip(raw.Version, 70)), "write MAJOR.MINOR.PATCH like 1.2.0 (a -prerelease suffix is allowed; no +build, the engine adds the content hash)")
	}
	if b.title == "" {
		v.fail("title", "the playbook has no title", "add title: with a short name for people")
	}
	if len(raw.Rules) == 0 {
		v.fail("rules", "the playbook has no rules", "add rules: with at least one rule")
	}
	if len(raw.Rules) > maxRules {
		v.fail("rules", fmt.Sprintf("the playbook has more than %d rules", maxRules), "split it into several playbooks")
		return nil
	}
	seen := map[string]int{}
	for i := range raw.Rules {
		if v.problems.full() {
			break
		}
		at := fmt.Sprintf("rules[%d]", i)
		r := v.rule(at, &raw.Rules[i])
		if r == nil {
			continue
		}
		if first, dup := seen[r.id]; dup {
			v.fail(at+".id", fmt.Sprintf("rule id %q is already used by rules[%d]", r.id, first), "give each rule of a playbook its own id")
			continue
		}
		seen[r.id] = i
		b.rules = append(b.rules, r)
	}
	if len(v.problems.list) > before {
		return nil
	}
	return b
}

// rule validates one rule; it returns nil when it has problems.
func (v *validator) rule(at string, raw *fileRule) *rule {
	before := len(v.problems.list)
	r := &rule{id: raw.ID}
	switch {
	case raw.ID == "":
		v.fail(at+".id", "the rule has no id", "add id: with a short lower-case name, unique in the playbook")
	case !idPattern.MatchString(raw.ID):
		v.fail(at+".id", fmt.Sprintf("rule id %q is not a valid id", clip(raw.ID, 70)), "use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	r.when = v.conditions(at+".when", &raw.When)
	confidence := defaultConfidence
	if raw.Confidence != nil {
		confidence = *raw.Confidence
		if confidence < 0 || confidence > 1 {
			v.fail(at+".confidence", fmt.Sprintf("confidence %g is not between 0 and 1", confidence), "write a number like 0.7")
		}
	}
	switch {
	case len(raw.Cards) == 0:
		v.fail(at+".cards", "the rule proposes no cards", "add cards: with at least one card")
	case len(raw.Cards) > maxCards:
		v.fail(at+".cards", fmt.Sprintf("the rule proposes more than %d cards", maxCards), "split it into several rules")
		return nil
	}
	actionsSeen := map[card.Action]int{}
	for i := range raw.Cards {
		if v.problems.full() {
			break
		}
		cat := fmt.Sprintf("%s.cards[%d]", at, i)
		c := v.card(cat, &raw.Cards[i], &r.when, confidence)
		if c == nil {
			continue
		}
		if first, dup := actionsSeen[c.action]; dup {
			v.fail(cat+".action", fmt.Sprintf("the rule already proposes %s in cards[%d]", c.action, first), "put the second card in a rule of its own")
			continue
		}
		actionsSeen[c.action] = i
		r.cards = append(r.cards, c)
	}
	if len(v.problems.list) > before {
		return nil
	}
	return r
}

// conditions validates and normalises a rule's when.
func (v *validator) conditions(at string, raw *fileConditions) conditions {
	var c conditions
	for i, s := range raw.AlertCategories {
		p := fmt.Sprintf("%s.alertCategories[%d]", at, i)
		if !categoryPattern.MatchString(s) {
			v.fail(p, fmt.Sprintf("alert category %q is not a category name", clip(s, 70)), "write a name like InitialAccess or Execution")
			continue
		}
		known := slices.ContainsFunc(knownAlertCategories, func(k string) bool { return strings.EqualFold(k, s) })
		if hint := suggest(s, knownAlertCategories); !known && hint != "" {
			v.fail(p, fmt.Sprintf("alert category %q is not one Defender uses", s), hint+"known categories are "+strings.Join(knownAlertCategories, ", "))
			continue
		}
		c.categories = append(c.categories, strings.ToLower(s))
	}
	for i, s := range raw.MitreTechniques {
		if !techniquePattern.MatchString(s) {
			v.fail(fmt.Sprintf("%s.mitreTechniques[%d]", at, i), fmt.Sprintf("%q is not a MITRE ATT&CK technique id", clip(s, 70)), "write T1566 (matches its sub-techniques too) or T1566.001")
			continue
		}
		c.techniques = append(c.techniques, strings.ToUpper(s))
	}
	c.detectionSources = v.texts(at+".detectionSources", raw.DetectionSources)
	c.serviceSources = v.texts(at+".serviceSources", raw.ServiceSources)
	c.titleContains = v.texts(at+".titleContains", raw.TitleContains)
	for i, s := range raw.EntityKinds {
		k := incident.EntityKind(s)
		if !slices.Contains(allKinds, k) {
			v.fail(fmt.Sprintf("%s.entityKinds[%d]", at, i), fmt.Sprintf("unknown entity kind %q", clip(s, 70)), suggest(s, allKinds)+"use one of "+list(allKinds))
			continue
		}
		c.kinds = append(c.kinds, k)
	}
	for i, s := range raw.Verdicts {
		vd := incident.Verdict(s)
		if !slices.Contains(allVerdicts, vd) {
			v.fail(fmt.Sprintf("%s.verdicts[%d]", at, i), fmt.Sprintf("unknown verdict %q", clip(s, 70)), suggest(s, allVerdicts)+"use one of "+list(allVerdicts))
			continue
		}
		c.verdicts = append(c.verdicts, vd)
	}
	for i, s := range raw.Roles {
		r := incident.Role(s)
		if !slices.Contains(allRoles, r) {
			v.fail(fmt.Sprintf("%s.roles[%d]", at, i), fmt.Sprintf("unknown role %q", clip(s, 70)), suggest(s, allRoles)+"use one of "+list(allRoles))
			continue
		}
		c.roles = append(c.roles, r)
	}
	if raw.MinSeverity != "" {
		sev, err := incident.ParseSeverity(raw.MinSeverity)
		if err != nil || sev == incident.SeverityUnknown {
			v.fail(at+".minSeverity", fmt.Sprintf("unknown severity %q", clip(raw.MinSeverity, 70)), suggest(raw.MinSeverity, allSeverities)+"use one of "+list(allSeverities))
		} else {
			c.minSeverity = sev
		}
	}
	return c
}

// texts lower-cases a list of free-text conditions, refusing empty entries.
func (v *validator) texts(at string, values []string) []string {
	var out []string
	for i, s := range values {
		if strings.TrimSpace(s) == "" {
			v.fail(fmt.Sprintf("%s[%d]", at, i), "the value is empty", "remove it or write the text to match")
			continue
		}
		out = append(out, strings.ToLower(s))
	}
	return out
}

// card validates one card template; it returns nil when it has problems.
func (v *validator) card(at string, raw *fileCard, when *conditions, ruleConfidence float64) *cardTemplate {
	before := len(v.problems.list)
	c := &cardTemplate{action: card.Action(raw.Action), confidence: ruleConfidence, rank: defaultRank}
	spec, ok := actions[c.action]
	switch {
	case raw.Action == "":
		v.fail(at+".action", "the card has no action", "add action: with one of "+list(actionNames()))
		return nil
	case c.action == card.ActionTriageClassify:
		v.fail(at+".action", "triage.classify cards are made by the engine, not by playbooks", "remove this card")
		return nil
	case !ok:
		if undoes, isUndo := undoOnly[c.action]; isUndo {
			v.fail(at+".action", fmt.Sprintf("%s only undoes %s", c.action, undoes), fmt.Sprintf("propose %s with undoAction: %s instead", undoes, c.action))
		} else {
			v.fail(at+".action", fmt.Sprintf("unknown action %q", clip(raw.Action, 70)), suggest(raw.Action, actionNames())+"use one of "+list(actionNames()))
		}
		return nil
	}
	c.spec = spec

	// Category.
	c.category = spec.category
	if raw.Category != "" {
		c.category = card.Category(raw.Category)
		switch {
		case !slices.Contains(playbookCategories, c.category):
			v.fail(at+".category", fmt.Sprintf("unknown category %q", clip(raw.Category, 70)), suggest(raw.Category, playbookCategories)+"use one of "+list(playbookCategories))
		case !c.action.Applicable() && c.category != card.CategoryInvestigation:
			v.fail(at+".category", fmt.Sprintf("%s changes nothing, so it cannot be a %s card", c.action, c.category), "use category: investigation or leave category out")
		}
	}

	// Target.
	switch raw.Entity {
	case "":
		switch {
		case spec.kinds == nil && len(when.kinds) == 0:
			v.fail(at, fmt.Sprintf("the %s card targets an entity but the rule does not say which kind", c.action), "add when.entityKinds (for example [ip]) or set entity: none for an incident-wide card")
		case spec.kinds == nil:
			c.targets = when.kinds
		case len(when.kinds) == 0:
			c.targets = spec.kinds
		default:
			for _, k := range when.kinds {
				if slices.Contains(spec.kinds, k) {
					c.targets = append(c.targets, k)
				}
			}
			if len(c.targets) == 0 {
				v.fail(at+".action", fmt.Sprintf("%s targets %s entities but the rule matches only %s", c.action, list(spec.kinds), list(when.kinds)),
					"change when.entityKinds or move the card to a rule for those entities")
			}
		}
	case "none":
		c.noEntity = true
		if !spec.noEntity {
			v.fail(at+".entity", fmt.Sprintf("%s needs an entity to act on", c.action), "remove entity: none")
		}
	default:
		v.fail(at+".entity", fmt.Sprintf("entity %q is not understood", clip(raw.Entity, 70)), "leave entity out to target each matching entity, or write entity: none for an incident-wide card")
	}

	// Risk, permission, references, rank, confidence.
	c.risk = spec.risk
	if raw.Risk != "" {
		c.risk = card.Risk(raw.Risk)
		if !slices.Contains(risks, c.risk) {
			v.fail(at+".risk", fmt.Sprintf("unknown risk %q", clip(raw.Risk, 70)), "use one of "+list(risks))
		}
	}
	c.permission = spec.permission
	if raw.Permission != "" {
		c.permission = rbac.Permission(raw.Permission)
		switch {
		case !c.permission.Valid():
			v.fail(at+".permission", fmt.Sprintf("unknown permission %q", clip(raw.Permission, 70)), suggest(raw.Permission, rbac.AllPermissions())+"use one of "+list(rbac.AllPermissions()))
		case c.action.Applicable() && (c.permission == rbac.PermSecurityDataRead || c.permission == rbac.PermLiveResponseBasic):
			v.fail(at+".permission", fmt.Sprintf("%s changes things, so it cannot need only %s", c.action, c.permission), fmt.Sprintf("leave permission out (the default is %s)", spec.permission))
		}
	}
	c.reactID, c.d3fend = raw.ReactID, raw.D3FEND
	if raw.ReactID != "" && !reactPattern.MatchString(raw.ReactID) {
		v.fail(at+".reactId", fmt.Sprintf("%q is not a RE&CT response action id", clip(raw.ReactID, 70)), "write RA followed by four digits, like RA3101")
	}
	if raw.D3FEND != "" && !d3fendPattern.MatchString(raw.D3FEND) {
		v.fail(at+".d3fend", fmt.Sprintf("%q is not a D3FEND technique id", clip(raw.D3FEND, 70)), "write D3- followed by the technique's letters, like D3-NI")
	}
	if raw.Rank != nil {
		c.rank = *raw.Rank
		if c.rank < 0 || c.rank > 1000 {
			v.fail(at+".rank", fmt.Sprintf("rank %d is not between 0 and 1000", c.rank), "lower ranks come first; write a number like 10")
		}
	}
	if raw.Confidence != nil {
		c.confidence = *raw.Confidence
		if c.confidence < 0 || c.confidence > 1 {
			v.fail(at+".confidence", fmt.Sprintf("confidence %g is not between 0 and 1", c.confidence), "write a number like 0.7")
		}
	}

	v.undo(at, raw, c)

	// Templates, checked against sample data of every kind the card can target.
	samples := []incident.EntityKind{""}
	if !c.noEntity {
		samples = c.targets
	}
	if strings.TrimSpace(raw.Title) == "" {
		v.fail(at+".title", "the card has no title", fmt.Sprintf("add title: like %q", spec.title+" {{.Entity.Name}}"))
	} else {
		c.title = v.template(at+".title", raw.Title, false, samples)
	}
	if strings.TrimSpace(raw.Why) == "" {
		v.fail(at+".why", "the card does not say why", "add why: with the reason this action helps; the engine adds the alerts and evidence")
	} else {
		c.why = v.template(at+".why", raw.Why, false, samples)
	}
	switch {
	case raw.Query != "" && !spec.queryAllowed && c.action == card.ActionInvestigateSimilarEmails:
		v.fail(at+".query", "the workflow fills in the query of a view-similar-emails card", "remove query")
	case raw.Query != "" && !spec.queryAllowed:
		v.fail(at+".query", fmt.Sprintf("%s cards carry no query", c.action), "remove query, or use action: investigation.huntingQuery")
	case raw.Query == "" && spec.queryRequired:
		v.fail(at+".query", fmt.Sprintf("a %s card needs a query", c.action), "add query: with an advanced-hunting KQL query; put every value through kqlString")
	case raw.Query != "":
		c.query = v.template(at+".query", raw.Query, true, samples)
	}
	v.parameters(at, raw, c, samples)

	if len(v.problems.list) > before {
		return nil
	}
	return c
}

// undo validates reversible, undoAction, undo and timeBox.
func (v *validator) undo(at string, raw *fileCard, c *cardTemplate) {
	spec := c.spec
	c.reversible = raw.Reversible != nil && *raw.Reversible
	c.undoAction, c.undo = card.Action(raw.UndoAction), strings.TrimSpace(raw.Undo)
	switch {
	case c.reversible && !c.action.Applicable():
		v.fail(at+".reversible", fmt.Sprintf("%s changes nothing, so there is nothing to undo", c.action), "remove reversible")
	case c.reversible && spec.irreversible:
		v.fail(at+".reversible", fmt.Sprintf("%s cannot be undone", c.action), "remove reversible: true")
	case c.reversible && spec.undo != "" && c.undoAction == "":
		v.fail(at+".undoAction", fmt.Sprintf("the card is reversible but does not say how: %s is undone by %s", c.action, spec.undo), "add undoAction: "+string(spec.undo))
	case c.reversible && spec.undo == "" && c.undo == "":
		v.fail(at+".undo", fmt.Sprintf("the card is reversible but %s has no undo action", c.action), "describe in undo: how a person undoes it")
	case c.undoAction != "" && !c.reversible:
		v.fail(at+".undoAction", "the card names an undoAction but is not reversible", "add reversible: true or remove undoAction")
	case c.undoAction != "" && spec.undo == "":
		v.fail(at+".undoAction", fmt.Sprintf("%s has no undo action", c.action), "remove undoAction and describe in undo: how a person undoes it")
	case c.undoAction != "" && c.undoAction != spec.undo:
		v.fail(at+".undoAction", fmt.Sprintf("%s is not the undo of %s", clip(raw.UndoAction, 70), c.action), "write undoAction: "+string(spec.undo))
	case c.undo != "" && !c.reversible:
		v.fail(at+".undo", "the card says how to undo it but is not reversible", "add reversible: true or remove undo")
	}
	if c.reversible && c.undo == "" {
		c.undo = spec.undoText
	}
	if raw.TimeBox == "" {
		return
	}
	d, err := time.ParseDuration(raw.TimeBox)
	switch {
	case err != nil:
		v.fail(at+".timeBox", fmt.Sprintf("%q is not a duration", clip(raw.TimeBox, 70)), "write a Go duration like 24h or 90m")
	case d <= 0 || d > maxTimeBox:
		v.fail(at+".timeBox", fmt.Sprintf("time box %s is not between 0 and 30 days", d), "write a duration like 24h")
	case c.category != card.CategoryContainment:
		v.fail(at+".timeBox", fmt.Sprintf("only containment cards are time-boxed; this is a %s card", c.category), "remove timeBox")
	case !c.reversible || c.undoAction == "":
		v.fail(at+".timeBox", "a time box undoes the action when it ends, but the card has no undoAction", "remove timeBox, or make the card reversible with its undoAction")
	default:
		c.timeBox = d
	}
}

// parameters validates a card's parameters.
func (v *validator) parameters(at string, raw *fileCard, c *cardTemplate, samples []incident.EntityKind) {
	names := make([]string, 0, len(raw.Parameters))
	for name := range raw.Parameters {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		value := raw.Parameters[name]
		p := join(at+".parameters", name)
		if !paramPattern.MatchString(name) {
			v.fail(p, fmt.Sprintf("parameter name %q is not a name", clip(name, 70)), "use letters and digits, like indicatorType")
			continue
		}
		if known, ok := knownParameterValues[name]; ok && !strings.Contains(value, "{{") && !slices.Contains(known, value) {
			v.fail(p, fmt.Sprintf("%s %q is not one the connectors know", name, clip(value, 70)), suggest(value, known)+"use one of "+strings.Join(known, ", "))
			continue
		}
		t := v.template(p, value, false, samples)
		if t != nil {
			c.params = append(c.params, param{name: name, text: t})
		}
	}
	_, hasType := raw.Parameters["indicatorType"]
	_, hasValue := raw.Parameters["indicatorValue"]
	if hasType != hasValue {
		v.fail(at+".parameters", "indicatorType and indicatorValue go together", "give both, or neither to block the entity itself")
	}
}

// template parses text and runs it on plain and hostile sample data of each kind, returning nil (with a
// problem) when it fails.
func (v *validator) template(at, text string, query bool, kinds []incident.EntityKind) *template.Template {
	name := at[strings.LastIndexByte(at, '.')+1:]
	t, err := parseTemplate(name, text, query)
	if err != nil {
		v.fail(at, "the template does not parse: "+templateError(err), "fix the {{...}} actions; fields are listed in the playbook package's Data type (.Entity.Name, .Alert.Title, ...)")
		return nil
	}
	for _, kind := range kinds {
		var outs [2]string
		for i, value := range []func(string) string{plainSample, hostileSample} {
			out, err := render(t, sampleData(kind, value))
			if err != nil {
				v.fail(at, "the template fails: "+templateError(err), "use fields of Data: .Incident, .Entity, .Alert, .Alerts, .AlertIDs (see the playbook package)")
				return nil
			}
			if strings.TrimSpace(out) == "" && !query {
				v.fail(at, "the template renders to nothing", "write text that stays when values are empty")
				return nil
			}
			outs[i] = out
		}
		if query {
			if err := checkQuery(outs[0], outs[1]); err != nil {
				v.fail(at, "the query is unsafe: "+err.Error(), "write values as {{kqlString .Entity.IPAddress}}, never inside quotes of your own")
				return nil
			}
		}
	}
	return t
}

// templateError shortens text/template's messages ("template: rules[0].cards[0].title:1:12: executing ...").
func templateError(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	return clip(msg, 300)
}
