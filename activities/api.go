package activities

import "github.com/guided-response/guided/incident"

// Error types of non-retryable application errors raised by activities.
const (
	// ErrTypeInvalidIncident: the incident fails validation; retrying cannot help.
	ErrTypeInvalidIncident = "InvalidIncident"
)

// PersistIncidentInput is the input of PersistIncident.
type PersistIncidentInput struct {
	Incident incident.Incident `json:"incident"`
}

// PersistIncidentOutput says what the store did.
type PersistIncidentOutput struct {
	Created bool `json:"created"`
	Changed bool `json:"changed"`
}
