package incident

// The classification taxonomy of Defender XDR: which determinations go with which classification. One
// table maps the portal's names to Graph's; the analyst picks a classification, then a determination.
var determinationsByClassification = map[Classification][]Determination{
	ClassificationTruePositive: {
		DeterminationMultiStagedAttack, DeterminationMaliciousUserActivity, DeterminationCompromisedAccount,
		DeterminationMalware, DeterminationPhishing, DeterminationUnwantedSoftware, DeterminationAPT, DeterminationOther,
	},
	ClassificationInformationalExpectedActivity: {
		DeterminationSecurityTesting, DeterminationLineOfBusinessApplication, DeterminationConfirmedUserActivity,
		DeterminationSecurityPersonnel, DeterminationOther,
	},
	ClassificationFalsePositive: {
		DeterminationNotMalicious, DeterminationNotEnoughDataToValidate, DeterminationOther,
	},
}

// PortalNames are the portal's words for Graph's classification and determination values.
var PortalNames = map[string]string{
	string(ClassificationTruePositive):                  "True positive",
	string(ClassificationInformationalExpectedActivity): "Informational, expected activity",
	string(ClassificationFalsePositive):                 "False positive",
	string(DeterminationMultiStagedAttack):              "Multi-staged attack",
	string(DeterminationMaliciousUserActivity):          "Malicious user activity",
	string(DeterminationCompromisedAccount):             "Compromised user",
	string(DeterminationMalware):                        "Malware",
	string(DeterminationPhishing):                       "Phishing",
	string(DeterminationUnwantedSoftware):               "Unwanted software",
	string(DeterminationAPT):                            "Advanced persistent threat",
	string(DeterminationOther):                          "Other",
	string(DeterminationSecurityTesting):                "Security testing",
	string(DeterminationLineOfBusinessApplication):      "Line-of-business application",
	string(DeterminationConfirmedUserActivity):          "Confirmed activity",
	string(DeterminationSecurityPersonnel):              "Security personnel",
	string(DeterminationNotMalicious):                   "Not malicious",
	string(DeterminationNotEnoughDataToValidate):        "Not enough data to validate",
}

// Determinations lists the determinations that go with c (none for unknown).
func Determinations(c Classification) []Determination {
	return append([]Determination(nil), determinationsByClassification[c]...)
}

// FitsClassification reports whether d is a determination of c.
func FitsClassification(c Classification, d Determination) bool {
	for _, x := range determinationsByClassification[c] {
		if x == d {
			return true
		}
	}
	return false
}
