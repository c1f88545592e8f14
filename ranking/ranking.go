// Package ranking orders the containment, investigation and remediation cards by what analysts did with
// earlier cards of the same playbook rule and action in their tenant: a card approved again and again
// rises, one dismissed or repeatedly marked not helpful sinks. The playbook's own rank and confidence are
// the prior; the analysts' signals move it as they accumulate (a Beta-Bernoulli estimate of "the analyst
// wants this card", shrunk toward the playbook's confidence while evidence is thin).
package ranking

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/guided-response/guided/card"
)

// Version names this ranking in the cards' provenance.
const Version = "ranking-v1"

// Key is a playbook rule and its action.
type Key struct {
	RuleID string
	Action card.Action
}

// Signals is what analysts did with earlier cards of one key.
type Signals struct {
	Approved, Rejected, Helpful, NotHelpful int
}

// n is how many signals there are.
func (s Signals) n() int { return s.Approved + s.Rejected + s.Helpful + s.NotHelpful }

// priorWeight is how many signals the playbook's confidence is worth: with four signals the analysts'
// record counts as much as the playbook.
const priorWeight = 4

// Score is the card's learned confidence: the share of positive signals (approvals, helpful) with a
// uniform prior, weighted against the playbook's confidence by the amount of evidence.
func Score(playbookConfidence float64, s Signals) float64 {
	n := float64(s.n())
	if n == 0 {
		return playbookConfidence
	}
	p := (float64(s.Approved+s.Helpful) + 1) / (n + 2)
	w := n / (n + priorWeight)
	return (1-w)*playbookConfidence + w*p
}

// Rerank sets each non-triage card's confidence from signals and from similar (the share of the most
// similar past incidents in which analysts applied the card's action), orders each category by it (ties
// keep the playbook's order) and renumbers the ranks from 1; a card moved by either says so in its
// reasons. It returns the cards in category order.
func Rerank(cards []card.Card, signals map[Key]Signals, similar map[card.Action]float64) []card.Card {
	out := slices.Clone(cards)
	base := make(map[string]int, len(out))
	for i := range out {
		c := &out[i]
		base[c.ID] = c.Rank
		if c.Category == card.CategoryTriage {
			continue
		}
		prior := c.Confidence
		if prior <= 0 {
			prior = 0.5
		}
		conf := prior
		if s, ok := signals[Key{RuleID: c.RuleID, Action: c.Action}]; ok && s.n() > 0 {
			conf = Score(prior, s)
			c.Why = append(slices.Clone(c.Why), explain(s))
		}
		if share := similar[c.Action]; share > 0 {
			// Half of what separates the card from certainty, scaled by how many similar incidents had it.
			conf += (1 - conf) * share / 2
			c.Why = append(slices.Clone(c.Why), fmt.Sprintf("Analysts applied this action in %.0f%% of the most similar past incidents.", 100*share))
		}
		if conf != prior {
			c.Confidence = math.Round(conf*1000) / 1000
		}
	}
	order := map[card.Category]int{card.CategoryTriage: 0, card.CategoryContainment: 1, card.CategoryInvestigation: 2, card.CategoryRemediation: 3}
	slices.SortStableFunc(out, func(a, b card.Card) int {
		if c := cmp.Compare(order[a.Category], order[b.Category]); c != 0 {
			return c
		}
		if a.Category != card.CategoryTriage {
			if c := cmp.Compare(b.Confidence, a.Confidence); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(base[a.ID], base[b.ID]); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	rank := map[card.Category]int{}
	for i := range out {
		if out[i].Category == card.CategoryTriage {
			continue
		}
		rank[out[i].Category]++
		out[i].Rank = rank[out[i].Category]
	}
	return out
}

func explain(s Signals) string {
	return fmt.Sprintf("In earlier incidents analysts approved this card %d time(s) and dismissed it %d time(s); "+
		"they marked it helpful %d time(s) and not helpful %d time(s) (%s).", s.Approved, s.Rejected, s.Helpful, s.NotHelpful, Version)
}

// guideActions maps the GUIDE dataset's action labels (ActionGranular, ActionGrouped) to the cards'
// actions; this system's own closed incidents are labelled with the cards' actions already.
var guideActions = map[string]card.Action{
	"isolateresponse": card.ActionDeviceIsolate, "isolatedevice": card.ActionDeviceIsolate,
	"quarantinefile": card.ActionFileStopAndQuarantine,
	"disableuser":    card.ActionUserDisable, "account disabled": card.ActionUserDisable, "containaccount": card.ActionUserDisable,
	"forcepasswordresetremediation": card.ActionUserForcePasswordReset, "reset user password.": card.ActionUserForcePasswordReset,
	"update stsrefreshtokenvalidfrom timestamp.": card.ActionUserRevokeSessions,
	"msecidentitiesconfirmusercompromised":       card.ActionUserMarkCompromised,
}

// ActionOf is the card action an action label names, or "" when none does.
func ActionOf(label string) card.Action {
	if a, ok := guideActions[strings.ToLower(strings.TrimSpace(label))]; ok {
		return a
	}
	if a := card.Action(label); a.Applicable() && strings.Contains(label, ".") {
		return a
	}
	return ""
}
