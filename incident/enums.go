package incident

import (
	"fmt"
	"slices"
	"strings"
)

// The known values of each enumeration, in the order error messages list them.
var (
	severities = []Severity{SeverityUnknown, SeverityInformational, SeverityLow, SeverityMedium, SeverityHigh}
	// incidentStatuses are Graph's incidentStatus values; unknown stands for Graph's unknownFutureValue.
	incidentStatuses = []Status{StatusActive, StatusInProgress, StatusAwaitingAction, StatusResolved, StatusRedirected, StatusUnknown}
	// alertStatuses are Graph's alertStatus values.
	alertStatuses   = []Status{StatusNew, StatusInProgress, StatusResolved, StatusUnknown}
	classifications = []Classification{
		ClassificationUnknown, ClassificationTruePositive, ClassificationInformationalExpectedActivity,
		ClassificationFalsePositive,
	}
	determinations = []Determination{
		DeterminationUnknown, DeterminationAPT, DeterminationMalware, DeterminationSecurityPersonnel,
		DeterminationSecurityTesting, DeterminationUnwantedSoftware, DeterminationOther,
		DeterminationMultiStagedAttack, DeterminationCompromisedAccount, DeterminationPhishing,
		DeterminationMaliciousUserActivity, DeterminationNotMalicious, DeterminationNotEnoughDataToValidate,
		DeterminationConfirmedUserActivity, DeterminationLineOfBusinessApplication,
	}
	verdicts            = []Verdict{VerdictUnknown, VerdictSuspicious, VerdictMalicious, VerdictNoThreatsFound}
	remediationStatuses = []RemediationStatus{
		RemediationNone, RemediationRemediated, RemediationPrevented, RemediationBlocked, RemediationNotFound,
		RemediationActive, RemediationPendingApproval, RemediationDeclined, RemediationUnremediated,
		RemediationRunning, RemediationPartiallyRemediated,
	}
	roles = []Role{
		RoleUnknown, RoleContextual, RoleScanned, RoleSource, RoleDestination, RoleCreated, RoleAdded,
		RoleCompromised, RoleEdited, RoleAttacked, RoleAttacker, RoleCommandAndControl, RoleLoaded,
		RoleSuspicious, RolePolicyViolator,
	}
	kinds = []EntityKind{
		KindDevice, KindUser, KindMailbox, KindAnalyzedMessage, KindFile, KindProcess, KindIP, KindURL,
		KindOAuthApplication, KindCloudApplication, KindRegistryKey, KindRegistryValue, KindSecurityGroup,
		KindMailCluster, KindGeneric,
	}
)

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { return slices.Contains(severities, s) }

// Rank orders severities: unknown 0, informational 1, low 2, medium 3, high 4; -1 for an unknown value.
func (s Severity) Rank() int { return slices.Index(severities, s) }

// ParseSeverity parses a severity, ignoring case ("High" is SeverityHigh).
func ParseSeverity(s string) (Severity, error) {
	for _, v := range severities {
		if strings.EqualFold(s, string(v)) {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown severity %q: use one of %s", s, list(severities))
}

// Valid reports whether s is a known status of an incident or an alert.
func (s Status) Valid() bool {
	return slices.Contains(incidentStatuses, s) || slices.Contains(alertStatuses, s)
}

// Valid reports whether c is a known classification.
func (c Classification) Valid() bool { return slices.Contains(classifications, c) }

// Valid reports whether d is a known determination.
func (d Determination) Valid() bool { return slices.Contains(determinations, d) }

// Valid reports whether v is a known verdict.
func (v Verdict) Valid() bool { return slices.Contains(verdicts, v) }

// Rank orders verdicts by how much they call for action: malicious 4, suspicious 3, unknown 2,
// noThreatsFound 1, and 0 for an empty or unknown value.
func (v Verdict) Rank() int {
	switch v {
	case VerdictMalicious:
		return 4
	case VerdictSuspicious:
		return 3
	case VerdictUnknown:
		return 2
	case VerdictNoThreatsFound:
		return 1
	}
	return 0
}

// Valid reports whether r is a known remediation status.
func (r RemediationStatus) Valid() bool { return slices.Contains(remediationStatuses, r) }

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(roles, r) }

// Valid reports whether k is a known entity kind.
func (k EntityKind) Valid() bool { return slices.Contains(kinds, k) }

// list renders known values for an error message: "a, b, c".
func list[T ~string](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// graphUnknownFutureValue is the sentinel Graph sends for enum members newer than the client asked for.
const graphUnknownFutureValue = "unknownFutureValue"

// graphDeterminations maps the determination spellings that Graph's documentation uses besides its enum's
// member names (the property descriptions list compromisedUser, clean, insufficientData; the member table
// lists confirmedActivity) onto the model's names, which are the enum's.
var graphDeterminations = map[string]Determination{
	"compromisedUser":   DeterminationCompromisedAccount,
	"clean":             DeterminationNotMalicious,
	"insufficientData":  DeterminationNotEnoughDataToValidate,
	"confirmedActivity": DeterminationConfirmedUserActivity,
}
