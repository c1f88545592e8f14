package playbook

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
)

// maxTextRunes bounds a card's title and each line of its why: names and titles come from outside.
const maxTextRunes = 300

// Generate proposes the cards of the set's rules for the incident: Evaluate without its error. Cards whose
// templates fail on this incident's values get the action's own title, or are left out when their query
// fails; Evaluate says which.
func (s *Set) Generate(inc *incident.Incident) []card.Card {
	cards, _ := s.Evaluate(inc)
	return cards
}

// Evaluate proposes the cards of the set's rules for the incident, with an error listing the templates that
// failed on its values (nil when none did).
//
// Each rule is matched against the incident's distinct entities (Incident.Entities): an entity matches
// when some alert holding it (by Key) meets the rule's alert conditions and the entity meets its kind,
// verdict and role conditions. Each card gets a stable ID (the same incident, playbook, rule, action and
// entity give the same ID), the reasons naming the alerts and the entity's verdict and roles in each, the
// action's default parameters and permission, and status proposed. A card is left out when every
// occurrence of its entity says the action already happened (an email already removed, a file already
// quarantined), or when the entity lacks what the action needs.
//
// The same action on the same entity proposed by several rules gives one card: the one with the lowest
// rank (the first rule on a tie), with the reasons and alerts of all. Cards are ordered by category
// (containment, investigation, remediation), then rank, then ID.
func (s *Set) Evaluate(inc *incident.Incident) ([]card.Card, error) {
	g := &generator{inc: inc, occurrences: map[string][]occurrence{}}
	for ai := range inc.Alerts {
		a := &inc.Alerts[ai]
		for ei := range a.Entities {
			e := &a.Entities[ei]
			key := e.Key()
			g.occurrences[key] = append(g.occurrences[key], occurrence{alert: a, index: ai, entity: e})
		}
	}
	entities := inc.Entities()
	for _, b := range s.books {
		for _, r := range b.rules {
			g.rule(b, r, entities)
		}
	}
	return g.result(), errors.Join(g.errs...)
}

// occurrence is one appearance of an entity in an alert.
type occurrence struct {
	alert  *incident.Alert
	index  int // of the alert in the incident
	entity *incident.Entity
}

// candidate is a proposed card before deduplication; its Why is made when candidates merge.
type candidate struct {
	card    card.Card
	ruleWhy string
	reasons []string
	dedup   string
	order   int
}

type generator struct {
	inc         *incident.Incident
	occurrences map[string][]occurrence
	candidates  []candidate
	errs        []error
}

// rule proposes the cards of one rule.
func (g *generator) rule(b *book, r *rule, entities []incident.Entity) {
	alertOK := make([]bool, len(g.inc.Alerts))
	someAlert := false
	for i := range g.inc.Alerts {
		alertOK[i] = r.when.alertMatches(&g.inc.Alerts[i])
		someAlert = someAlert || alertOK[i]
	}
	if !someAlert {
		return
	}
	for _, c := range r.cards {
		if c.noEntity {
			g.incidentWide(b, r, c, alertOK, entities)
			continue
		}
		for k := range entities {
			e := &entities[k]
			if !slices.Contains(c.targets, e.Kind) || !r.when.entityMatches(e) {
				continue
			}
			// The alerts that led to the card: those meeting the alert conditions, and among them those
			// where the entity itself meets the entity conditions, when there are any.
			var matched, strong []occurrence
			for _, o := range g.occurrences[e.Key()] {
				if alertOK[o.index] {
					matched = append(matched, o)
					if r.when.occurrenceMatches(o.entity) {
						strong = append(strong, o)
					}
				}
			}
			if len(matched) == 0 || g.alreadyDone(c, e) {
				continue
			}
			if len(strong) > 0 {
				matched = strong
			}
			// A file seen on several devices gets a card per device (whichever rule proposes it, the same
			// cards), each from the alerts on that device.
			if c.action == card.ActionFileStopAndQuarantine && len(devicesOf(g.occurrences[e.Key()])) > 1 {
				for _, d := range devicesOf(matched) {
					if !doneOn(c, g.occurrences[e.Key()], d.id) {
						g.proposeOn(b, r, c, e, d)
					}
				}
				continue
			}
			g.propose(b, r, c, e, matched, "")
		}
	}
}

// onDevice is where a file was seen: Defender stops and quarantines a file one machine at a time.
type onDevice struct {
	id      string
	matched []occurrence
}

// devicesOf groups a file's occurrences by the device each names, in order of first appearance.
func devicesOf(matched []occurrence) []onDevice {
	var out []onDevice
	for _, o := range matched {
		if o.entity == nil || o.entity.File == nil || o.entity.File.MdeDeviceID == "" {
			continue
		}
		id := o.entity.File.MdeDeviceID
		k := slices.IndexFunc(out, func(d onDevice) bool { return strings.EqualFold(d.id, id) })
		if k < 0 {
			out = append(out, onDevice{id: id})
			k = len(out) - 1
		}
		out[k].matched = append(out[k].matched, o)
	}
	return out
}

// doneOn reports whether every occurrence of a file on the device says the card's action already happened.
func doneOn(c *cardTemplate, occurrences []occurrence, device string) bool {
	if len(c.spec.done) == 0 {
		return false
	}
	for _, o := range occurrences {
		if o.entity.File != nil && strings.EqualFold(o.entity.File.MdeDeviceID, device) && !slices.Contains(c.spec.done, o.entity.RemediationStatus) {
			return false
		}
	}
	return true
}

// proposeOn proposes the card for a file on one of the devices where it was seen: the entity the
// templates see names that device, and so does the card (title, mdeDeviceId, ID).
func (g *generator) proposeOn(b *book, r *rule, c *cardTemplate, e *incident.Entity, d onDevice) {
	onDev := *e
	f := *e.File
	f.MdeDeviceID = d.id
	onDev.File = &f
	g.propose(b, r, c, &onDev, d.matched, d.id)
}

// deviceName is how the incident names the device with this Defender machine ID: its DNS name when a
// device entity says it, else the ID.
func (g *generator) deviceName(id string) string {
	for i := range g.inc.Alerts {
		for _, e := range g.inc.Alerts[i].Entities {
			if e.Kind == incident.KindDevice && e.Device != nil && strings.EqualFold(e.Device.MdeDeviceID, id) && e.Device.DNSName != "" {
				return e.Device.DNSName
			}
		}
	}
	return id
}

// incidentWide proposes a card without an entity when some matching alert holds a matching entity (or
// any matching alert, when the rule has no entity conditions).
func (g *generator) incidentWide(b *book, r *rule, c *cardTemplate, alertOK []bool, entities []incident.Entity) {
	var matched []occurrence
	for i := range g.inc.Alerts {
		if !alertOK[i] {
			continue
		}
		a := &g.inc.Alerts[i]
		if !r.when.hasEntityConditions() {
			matched = append(matched, occurrence{alert: a, index: i})
			continue
		}
		for k := range entities {
			e := &entities[k]
			if r.when.entityMatches(e) && holds(a, e.Key()) {
				matched = append(matched, occurrence{alert: a, index: i, entity: e})
				break
			}
		}
	}
	if len(matched) > 0 {
		g.propose(b, r, c, nil, matched, "")
	}
}

func holds(a *incident.Alert, key string) bool {
	for i := range a.Entities {
		if a.Entities[i].Key() == key {
			return true
		}
	}
	return false
}

// alreadyDone reports whether every occurrence of the entity says the card's action already happened.
func (g *generator) alreadyDone(c *cardTemplate, e *incident.Entity) bool {
	if len(c.spec.done) == 0 {
		return false
	}
	occurrences := g.occurrences[e.Key()]
	for _, o := range occurrences {
		if !slices.Contains(c.spec.done, o.entity.RemediationStatus) {
			return false
		}
	}
	return len(occurrences) > 0
}

// propose renders one card; e is nil for incident-wide cards. device, when set, is the one device of
// several the card acts on (see proposeOn).
func (g *generator) propose(b *book, r *rule, c *cardTemplate, e *incident.Entity, matched []occurrence, device string) {
	var params map[string]string
	if e != nil {
		var ok bool
		if params, ok = defaultParameters(c.action, e); !ok {
			return
		}
	}
	alerts := make([]*incident.Alert, 0, len(matched))
	for _, o := range matched {
		if !slices.Contains(alerts, o.alert) {
			alerts = append(alerts, o.alert)
		}
	}
	data := dataFor(g.inc, e, alerts)
	where := fmt.Sprintf("playbook %s rule %s %s", b.id, r.id, c.action)
	for _, p := range c.params {
		value, err := render(p.text, data)
		if err != nil {
			g.errs = append(g.errs, fmt.Errorf("%s: parameter %s: %w (card left out)", where, p.name, err))
			return
		}
		if params == nil {
			params = map[string]string{}
		}
		if value == "" {
			delete(params, p.name)
		} else {
			params[p.name] = value
		}
	}
	if device != "" {
		if params == nil {
			params = map[string]string{}
		}
		params["mdeDeviceId"] = device
	}
	if c.action == card.ActionIndicatorBlock && !checkIndicator(params["indicatorType"], params["indicatorValue"]) {
		return
	}
	var query string
	if c.query != nil {
		var err error
		if query, err = render(c.query, data); err != nil {
			g.errs = append(g.errs, fmt.Errorf("%s: query: %w (card left out)", where, err))
			return
		}
	}
	name := ""
	if e != nil {
		name = e.Name()
	}
	title, err := render(c.title, data)
	if err != nil || strings.TrimSpace(title) == "" {
		if err != nil {
			g.errs = append(g.errs, fmt.Errorf("%s: title: %w (the action's name used)", where, err))
		}
		title = strings.TrimSpace(c.spec.title + " " + name)
	}
	if device != "" {
		title += " on " + g.deviceName(device)
	}
	why, err := render(c.why, data)
	if err != nil {
		g.errs = append(g.errs, fmt.Errorf("%s: why: %w (left out)", where, err))
		why = ""
	}

	out := card.Card{
		Category:        c.category,
		Title:           clean(title),
		Action:          c.action,
		Risk:            c.risk,
		Reversible:      c.reversible,
		UndoAction:      c.undoAction,
		Undo:            c.undo,
		TimeBox:         c.timeBox,
		Parameters:      params,
		Query:           query,
		Permission:      c.permission,
		ReactID:         c.reactID,
		D3FEND:          c.d3fend,
		PlaybookID:      b.id,
		PlaybookVersion: b.cardVersion(),
		RuleID:          r.id,
		Rank:            c.rank,
		Confidence:      c.confidence,
		Status:          card.StatusProposed,
	}
	key := ""
	if e != nil {
		key = e.Key()
		out.Entity = &card.EntityRef{Key: key, Kind: e.Kind, Name: clean(name)}
	}
	var reasons []string
	for _, a := range alerts {
		out.AlertIDs = append(out.AlertIDs, a.ID)
		var seen *incident.Entity
		for _, o := range matched {
			if o.alert == a && o.entity != nil {
				seen = o.entity
				break
			}
		}
		reasons = append(reasons, reason(a, seen, e))
	}
	out.ID = cardID(g.inc.TenantID, g.inc.ID, b.id, r.id, string(c.action), key)
	dedup := string(c.action) + "|" + key
	if device != "" {
		out.ID = cardID(g.inc.TenantID, g.inc.ID, b.id, r.id, string(c.action), key, strings.ToLower(device))
		dedup += "|" + strings.ToLower(device)
	}

	switch c.action {
	case card.ActionIndicatorBlock:
		dedup = string(c.action) + "|" + params["indicatorType"] + "|" + strings.ToLower(params["indicatorValue"])
	case card.ActionInvestigateHunt:
		sum := sha256.Sum256([]byte(query))
		dedup += "|" + hex.EncodeToString(sum[:8])
	}
	g.candidates = append(g.candidates, candidate{card: out, ruleWhy: clean(why), reasons: reasons, dedup: dedup, order: len(g.candidates)})
}

// cardID is "c-" and the first 16 hex digits of the SHA-256 of tenant|incident|playbook|rule|action|entity.
func cardID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "|")))
	return "c-" + hex.EncodeToString(sum[:])[:16]
}

// result merges candidates proposing the same action on the same thing and orders the cards.
func (g *generator) result() []card.Card {
	groups := map[string][]candidate{}
	var keys []string
	for _, c := range g.candidates {
		if _, ok := groups[c.dedup]; !ok {
			keys = append(keys, c.dedup)
		}
		groups[c.dedup] = append(groups[c.dedup], c)
	}
	cards := make([]card.Card, 0, len(keys))
	for _, k := range keys {
		group := groups[k]
		slices.SortStableFunc(group, func(a, b candidate) int {
			if a.card.Rank != b.card.Rank {
				return a.card.Rank - b.card.Rank
			}
			return a.order - b.order
		})
		// Why: each rule's reason, then the alerts' reasons, then the other rules that proposed it.
		winner := group[0].card
		var why, reasons, also []string
		for k, c := range group {
			if c.ruleWhy != "" {
				why = appendNew(why, c.ruleWhy)
			}
			for _, r := range c.reasons {
				reasons = appendNew(reasons, r)
			}
			if k == 0 {
				continue
			}
			also = appendNew(also, fmt.Sprintf("Also proposed by playbook %s rule %s.", c.card.PlaybookID, c.card.RuleID))
			for _, id := range c.card.AlertIDs {
				winner.AlertIDs = appendNew(winner.AlertIDs, id)
			}
			winner.Confidence = max(winner.Confidence, c.card.Confidence)
		}
		winner.Why = append(append(why, reasons...), also...)
		winner.AlertIDs = g.inIncidentOrder(winner.AlertIDs)
		if winner.Parameters != nil {
			winner.Parameters = maps.Clone(winner.Parameters)
		}
		cards = append(cards, winner)
	}
	slices.SortFunc(cards, func(a, b card.Card) int {
		if d := categoryOrder(a.Category) - categoryOrder(b.Category); d != 0 {
			return d
		}
		if a.Rank != b.Rank {
			return a.Rank - b.Rank
		}
		return strings.Compare(a.ID, b.ID)
	})
	return cards
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func (g *generator) inIncidentOrder(ids []string) []string {
	var out []string
	for _, a := range g.inc.Alerts {
		if slices.Contains(ids, a.ID) && !slices.Contains(out, a.ID) {
			out = append(out, a.ID)
		}
	}
	return out
}

func categoryOrder(c card.Category) int {
	switch c {
	case card.CategoryTriage:
		return 0
	case card.CategoryContainment:
		return 1
	case card.CategoryInvestigation:
		return 2
	case card.CategoryRemediation:
		return 3
	}
	return 4
}

// alertMatches reports whether an alert meets the rule's alert conditions.
func (c *conditions) alertMatches(a *incident.Alert) bool {
	if len(c.categories) > 0 && !slices.Contains(c.categories, strings.ToLower(a.Category)) {
		return false
	}
	if len(c.techniques) > 0 && !slices.ContainsFunc(a.MitreTechniques, c.techniqueMatches) {
		return false
	}
	if len(c.detectionSources) > 0 && !slices.Contains(c.detectionSources, strings.ToLower(a.DetectionSource)) {
		return false
	}
	if len(c.serviceSources) > 0 && !slices.Contains(c.serviceSources, strings.ToLower(a.ServiceSource)) {
		return false
	}
	if c.minSeverity != "" && a.Severity.Rank() < c.minSeverity.Rank() {
		return false
	}
	if len(c.titleContains) > 0 {
		title := strings.ToLower(a.Title)
		if !slices.ContainsFunc(c.titleContains, func(s string) bool { return strings.Contains(title, s) }) {
			return false
		}
	}
	return true
}

// techniqueMatches reports whether an alert's technique is one of the rule's or a sub-technique of one.
func (c *conditions) techniqueMatches(t string) bool {
	t = strings.ToUpper(strings.TrimSpace(t))
	for _, want := range c.techniques {
		if t == want || strings.HasPrefix(t, want+".") {
			return true
		}
	}
	return false
}

// occurrenceMatches reports whether an entity as one alert reports it meets the verdict and role
// conditions.
func (c *conditions) occurrenceMatches(e *incident.Entity) bool {
	if len(c.verdicts) > 0 && !slices.Contains(c.verdicts, e.Verdict) {
		return false
	}
	if len(c.roles) > 0 && !slices.ContainsFunc(e.Roles, func(r incident.Role) bool { return slices.Contains(c.roles, r) }) {
		return false
	}
	return true
}

// entityMatches reports whether a (merged) entity meets the rule's entity conditions.
func (c *conditions) entityMatches(e *incident.Entity) bool {
	if len(c.kinds) > 0 && !slices.Contains(c.kinds, e.Kind) {
		return false
	}
	if len(c.verdicts) > 0 && !slices.Contains(c.verdicts, e.Verdict) {
		return false
	}
	if len(c.roles) > 0 && !slices.ContainsFunc(e.Roles, func(r incident.Role) bool { return slices.Contains(c.roles, r) }) {
		return false
	}
	return true
}

// reason says why an alert led to a card: Alert "TITLE" (high, Execution, T1059.001): device NAME is
// malicious, role compromised. seen is the entity as that alert reports it; merged is the card's entity
// (nil for incident-wide cards).
func reason(a *incident.Alert, seen, merged *incident.Entity) string {
	facts := []string{string(a.Severity)}
	if a.Category != "" {
		facts = append(facts, clean(a.Category))
	}
	for _, t := range a.MitreTechniques {
		facts = append(facts, clean(t))
	}
	s := fmt.Sprintf("Alert %q (%s)", clip(clean(a.Title), 200), strings.Join(facts, ", "))
	if merged == nil {
		return s
	}
	e := merged
	if seen != nil {
		e = seen
	}
	name := clip(clean(merged.Name()), 120)
	if merged.Kind == incident.KindAnalyzedMessage {
		name = fmt.Sprintf("%q", name) // a subject reads as a sentence of its own
	}
	s += ": " + kindWords[merged.Kind] + " " + name
	switch e.Verdict {
	case incident.VerdictMalicious, incident.VerdictSuspicious:
		s += " is " + string(e.Verdict)
	case incident.VerdictNoThreatsFound:
		s += " has no threats found"
	default:
		s += " has no verdict"
	}
	if len(e.Roles) > 0 {
		roles := make([]string, len(e.Roles))
		for i, r := range e.Roles {
			roles[i] = clean(string(r))
		}
		if len(roles) == 1 {
			s += ", role " + roles[0]
		} else {
			s += ", roles " + strings.Join(roles, ", ")
		}
	}
	return s
}

// kindWords names entity kinds in reasons.
var kindWords = map[incident.EntityKind]string{
	incident.KindDevice: "device", incident.KindUser: "user", incident.KindMailbox: "mailbox",
	incident.KindAnalyzedMessage: "email", incident.KindFile: "file", incident.KindProcess: "process",
	incident.KindIP: "IP", incident.KindURL: "URL", incident.KindOAuthApplication: "OAuth app",
	incident.KindCloudApplication: "cloud app", incident.KindRegistryKey: "registry key",
	incident.KindRegistryValue: "registry value", incident.KindSecurityGroup: "security group",
	incident.KindMailCluster: "mail cluster", incident.KindGeneric: "evidence",
}

// clean makes outside text fit for one line of a card: control and invisible characters become spaces,
// runs of spaces one, and the text is cut at maxTextRunes.
func clean(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if invisible(r) || unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return clip(b.String(), maxTextRunes)
}
