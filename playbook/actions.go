package playbook

import (
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/guided-response/guided/card"
	"github.com/guided-response/guided/incident"
	"github.com/guided-response/guided/rbac"
)

// actionSpec is what the engine knows about an action, whichever playbook proposes it: the defaults a card
// template may leave out and the limits it may not cross.
type actionSpec struct {
	// category is the default category.
	category card.Category
	// kinds are the entity kinds the action can target; nil means any (investigation steps).
	kinds []incident.EntityKind
	// noEntity says the action may run without an entity (entity: none).
	noEntity   bool
	permission rbac.Permission
	risk       card.Risk
	// undo is the natural undo action; a reversible card of this action must name it.
	undo     card.Action
	undoText string
	// irreversible actions cannot be marked reversible.
	irreversible bool
	// title is the product's own name of the action, for titles when a template fails.
	title string
	// done lists the remediation statuses that say the action already happened to the entity: when every
	// occurrence of the entity in the incident says one of them, the card is not proposed.
	done []incident.RemediationStatus
	// queryAllowed says the card may carry a hunting query; queryRequired that it must.
	queryAllowed, queryRequired bool
}

// removed is what "already done" means for actions that remove or block the thing itself.
var removed = []incident.RemediationStatus{
	incident.RemediationRemediated, incident.RemediationPrevented, incident.RemediationBlocked,
}

// actions is the table of actions a playbook may propose. Undo-only actions (release, remove app
// restriction, enable, unblock, move to inbox, remove indicator) are not in it: they appear as undoAction.
// Permissions follow Defender XDR unified RBAC: device, file, indicator and user actions need Response
// (manage), live response and killing a process (a live response remediation) need Live response
// (advanced), email actions need Email & collaboration advanced actions (manage), investigation steps
// need Security data basics (read).
var actions = map[card.Action]actionSpec{
	card.ActionDeviceIsolate: {
		category: card.CategoryContainment, kinds: kinds(incident.KindDevice),
		permission: rbac.PermResponseManage, risk: card.RiskHigh,
		undo: card.ActionDeviceRelease, undoText: "Release the device from isolation.",
		title: "Isolate device",
	},
	card.ActionDeviceRestrictAppExecution: {
		category: card.CategoryContainment, kinds: kinds(incident.KindDevice),
		permission: rbac.PermResponseManage, risk: card.RiskMedium,
		undo: card.ActionDeviceRemoveAppRestriction, undoText: "Remove app restriction from the device.",
		title: "Restrict app execution",
	},
	card.ActionDeviceRunAntivirusScan: {
		category: card.CategoryRemediation, kinds: kinds(incident.KindDevice),
		permission: rbac.PermResponseManage, risk: card.RiskLow, irreversible: true,
		title: "Run antivirus scan",
	},
	card.ActionDeviceCollectInvestigation: {
		category: card.CategoryInvestigation, kinds: kinds(incident.KindDevice),
		permission: rbac.PermResponseManage, risk: card.RiskLow, irreversible: true,
		title: "Collect investigation package",
	},
	card.ActionDeviceLiveResponse: {
		category: card.CategoryInvestigation, kinds: kinds(incident.KindDevice),
		permission: rbac.PermLiveResponseAdvanced, risk: card.RiskMedium, irreversible: true,
		title: "Initiate live response session",
	},
	card.ActionFileStopAndQuarantine: {
		category: card.CategoryContainment, kinds: kinds(incident.KindFile),
		permission: rbac.PermResponseManage, risk: card.RiskMedium, done: removed,
		title: "Stop and quarantine file",
	},
	card.ActionIndicatorBlock: {
		category: card.CategoryContainment, kinds: kinds(incident.KindFile, incident.KindIP, incident.KindURL),
		permission: rbac.PermResponseManage, risk: card.RiskMedium,
		undo: card.ActionIndicatorRemove, undoText: "Remove the indicator.",
		done:  []incident.RemediationStatus{incident.RemediationBlocked},
		title: "Block indicator",
	},
	card.ActionUserDisable: {
		category: card.CategoryContainment, kinds: kinds(incident.KindUser),
		permission: rbac.PermResponseManage, risk: card.RiskHigh,
		undo: card.ActionUserEnable, undoText: "Enable the user account.",
		title: "Disable user",
	},
	card.ActionUserRevokeSessions: {
		category: card.CategoryContainment, kinds: kinds(incident.KindUser),
		permission: rbac.PermResponseManage, risk: card.RiskMedium, irreversible: true,
		title: "Revoke all sessions",
	},
	card.ActionUserForcePasswordReset: {
		category: card.CategoryRemediation, kinds: kinds(incident.KindUser),
		permission: rbac.PermResponseManage, risk: card.RiskMedium, irreversible: true,
		title: "Force password reset",
	},
	card.ActionUserMarkCompromised: {
		category: card.CategoryContainment, kinds: kinds(incident.KindUser),
		permission: rbac.PermResponseManage, risk: card.RiskMedium,
		title: "Mark user as compromised",
	},
	card.ActionUserRequireSignIn: {
		category: card.CategoryContainment, kinds: kinds(incident.KindUser),
		permission: rbac.PermResponseManage, risk: card.RiskLow, irreversible: true,
		title: "Require user to sign in again",
	},
	card.ActionEmailSoftDelete: {
		category: card.CategoryRemediation, kinds: kinds(incident.KindAnalyzedMessage),
		permission: rbac.PermEmailAdvancedManage, risk: card.RiskMedium, done: removed,
		undo: card.ActionEmailMoveToInbox, undoText: "Move the email back to the inbox.",
		title: "Soft delete email",
	},
	card.ActionEmailHardDelete: {
		category: card.CategoryRemediation, kinds: kinds(incident.KindAnalyzedMessage),
		permission: rbac.PermEmailAdvancedManage, risk: card.RiskHigh, irreversible: true, done: removed,
		title: "Hard delete email",
	},
	card.ActionEmailMoveToJunk: {
		category: card.CategoryContainment, kinds: kinds(incident.KindAnalyzedMessage),
		permission: rbac.PermEmailAdvancedManage, risk: card.RiskLow, done: removed,
		undo: card.ActionEmailMoveToInbox, undoText: "Move the email back to the inbox.",
		title: "Move to junk folder",
	},
	card.ActionEmailBlockSender: {
		category: card.CategoryContainment, kinds: kinds(incident.KindAnalyzedMessage),
		permission: rbac.PermEmailAdvancedManage, risk: card.RiskMedium,
		undo: card.ActionEmailUnblockSender, undoText: "Remove the sender from the tenant block list.",
		title: "Block sender",
	},
	card.ActionOAuthAppRevoke: {
		category: card.CategoryContainment, kinds: kinds(incident.KindOAuthApplication),
		permission: rbac.PermResponseManage, risk: card.RiskMedium,
		title: "Revoke app",
	},
	card.ActionProcessKill: {
		category: card.CategoryContainment, kinds: kinds(incident.KindProcess),
		permission: rbac.PermLiveResponseAdvanced, risk: card.RiskMedium, irreversible: true, done: removed,
		title: "Kill process",
	},
	card.ActionInvestigateHunt: {
		category: card.CategoryInvestigation, noEntity: true,
		permission: rbac.PermSecurityDataRead, risk: card.RiskLow,
		queryAllowed: true, queryRequired: true,
		title: "Run hunting query",
	},
	card.ActionInvestigateTimeline: {
		category: card.CategoryInvestigation, noEntity: true,
		permission: rbac.PermSecurityDataRead, risk: card.RiskLow, queryAllowed: true,
		title: "Review the incident timeline",
	},
	card.ActionInvestigateSimilarEmails: {
		category: card.CategoryInvestigation, kinds: kinds(incident.KindAnalyzedMessage),
		permission: rbac.PermSecurityDataRead, risk: card.RiskLow,
		title: "View similar emails",
	},
	card.ActionInvestigateSimilarIncidents: {
		category: card.CategoryInvestigation, noEntity: true,
		permission: rbac.PermSecurityDataRead, risk: card.RiskLow,
		title: "View similar incidents",
	},
}

// undoOnly maps the actions that only undo others to the actions they undo, for error messages.
var undoOnly = map[card.Action]card.Action{
	card.ActionDeviceRelease:              card.ActionDeviceIsolate,
	card.ActionDeviceRemoveAppRestriction: card.ActionDeviceRestrictAppExecution,
	card.ActionUserEnable:                 card.ActionUserDisable,
	card.ActionEmailUnblockSender:         card.ActionEmailBlockSender,
	card.ActionEmailMoveToInbox:           card.ActionEmailMoveToJunk,
	card.ActionIndicatorRemove:            card.ActionIndicatorBlock,
}

// actionNames lists the actions a playbook may propose, sorted, for error messages.
func actionNames() []card.Action {
	names := make([]card.Action, 0, len(actions))
	for a := range actions {
		names = append(names, a)
	}
	slices.Sort(names)
	return names
}

func kinds(k ...incident.EntityKind) []incident.EntityKind { return k }

// Indicator types of Defender for Endpoint indicators (POST /api/indicators).
const (
	IndicatorFileSha1   = "FileSha1"
	IndicatorFileSha256 = "FileSha256"
	IndicatorFileMd5    = "FileMd5"
	IndicatorIPAddress  = "IpAddress"
	IndicatorDomainName = "DomainName"
	IndicatorURL        = "Url"
	IndicatorCert       = "CertificateThumbprint"
)

// knownParameterValues lists the values of the parameters the engine knows; a literal value of one of these
// parameters in a playbook must be among them.
var knownParameterValues = map[string][]string{
	"isolationType": {"Full", "Selective"},
	"scanType":      {"Quick", "Full"},
	"indicatorType": {
		IndicatorFileSha1, IndicatorFileSha256, IndicatorFileMd5, IndicatorIPAddress, IndicatorDomainName,
		IndicatorURL, IndicatorCert,
	},
}

// defaultParameters returns the parameters an action takes by default for the entity, and false when the
// entity lacks what the action needs (a card without them could not be applied), or when the action must
// not be applied to it (an indicator for a private IP address, blocking an internal sender).
func defaultParameters(action card.Action, e *incident.Entity) (map[string]string, bool) {
	switch action {
	case card.ActionDeviceIsolate:
		return map[string]string{"isolationType": "Full"}, true
	case card.ActionDeviceRunAntivirusScan:
		return map[string]string{"scanType": "Quick"}, true
	case card.ActionIndicatorBlock:
		typ, value := indicatorOf(e)
		if value == "" {
			return nil, false
		}
		return map[string]string{"indicatorType": typ, "indicatorValue": value}, true
	case card.ActionEmailSoftDelete, card.ActionEmailHardDelete, card.ActionEmailMoveToJunk:
		m := e.AnalyzedMessage
		if m == nil || m.NetworkMessageID == "" || m.RecipientEmailAddress == "" {
			return nil, false
		}
		return map[string]string{"networkMessageId": m.NetworkMessageID, "recipient": m.RecipientEmailAddress}, true
	case card.ActionEmailBlockSender:
		m := e.AnalyzedMessage
		if m == nil || senderOf(m) == "" || !inbound(m) {
			return nil, false
		}
		p := map[string]string{"sender": senderOf(m)}
		if m.NetworkMessageID != "" {
			p["networkMessageId"] = m.NetworkMessageID
		}
		if m.RecipientEmailAddress != "" {
			p["recipient"] = m.RecipientEmailAddress
		}
		return p, true
	}
	return nil, true
}

// indicatorOf returns the indicator type and value that block the entity: a file's SHA-256 (SHA-1 without
// one), an IP address, a URL.
func indicatorOf(e *incident.Entity) (typ, value string) {
	switch e.Kind {
	case incident.KindFile:
		if f := e.File; f != nil {
			switch {
			case f.SHA256 != "":
				return IndicatorFileSha256, strings.ToLower(f.SHA256)
			case f.SHA1 != "":
				return IndicatorFileSha1, strings.ToLower(f.SHA1)
			}
		}
	case incident.KindIP:
		if ip := e.IP; ip != nil {
			return IndicatorIPAddress, ip.Address
		}
	case incident.KindURL:
		if u := e.URL; u != nil {
			return IndicatorURL, u.URL
		}
	}
	return "", ""
}

// checkIndicator reports whether an indicator can be created: Defender for Endpoint takes IP indicators
// only for public addresses, and a domain indicator must be a domain name, not an address.
func checkIndicator(typ, value string) bool {
	switch typ {
	case "", IndicatorURL, IndicatorFileSha1, IndicatorFileSha256, IndicatorFileMd5, IndicatorCert:
		return value != ""
	case IndicatorIPAddress:
		addr, err := netip.ParseAddr(value)
		if err != nil {
			return false
		}
		addr = addr.Unmap()
		return addr.IsGlobalUnicast() && !addr.IsPrivate()
	case IndicatorDomainName:
		if value == "" || strings.ContainsAny(value, "/:@ ") || !strings.Contains(value, ".") {
			return false
		}
		_, err := netip.ParseAddr(value)
		return err != nil
	}
	return false
}

// senderOf returns the sender address to block: the From header (P2) address, or the envelope (P1) one.
func senderOf(m *incident.AnalyzedMessage) string {
	if m.P2Sender != "" {
		return m.P2Sender
	}
	return m.P1Sender
}

// inbound reports whether the message came from outside; blocking the sender of an internal or outbound
// message would block a (perhaps compromised) colleague, which is a different response.
func inbound(m *incident.AnalyzedMessage) bool {
	switch strings.ToLower(m.AntiSpamDirection) {
	case "intraorg", "outbound":
		return false
	}
	return true
}

// domainOf returns the domain of a URL's host or of an email sender, or "".
func domainOf(e *incident.Entity) string {
	switch e.Kind {
	case incident.KindURL:
		if e.URL == nil {
			return ""
		}
		u, err := url.Parse(e.URL.URL)
		if err != nil {
			return ""
		}
		return strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	case incident.KindAnalyzedMessage:
		if e.AnalyzedMessage == nil {
			return ""
		}
		sender := senderOf(e.AnalyzedMessage)
		if at := strings.LastIndexByte(sender, '@'); at >= 0 {
			return strings.ToLower(sender[at+1:])
		}
	}
	return ""
}
