package playbook

import (
	"errors"
	"regexp"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/guided-response/guided/card"
)

var cardIDPattern = regexp.MustCompile(`^c-[0-9a-f]{16}$`)

// FuzzLoad feeds Load arbitrary playbook files. Load must not panic; when it refuses a file it returns no
// set and *Error problems naming the file; when it accepts one, the set generates well-formed cards for the
// multi-stage test incident, and its templates fail on none of them (only an output over the size limit
// may). The seeds in testdata/fuzz/FuzzLoad are small playbooks, valid and not.
func FuzzLoad(f *testing.F) {
	inc := loadIncident(f, multiIncident)
	categories := []card.Category{card.CategoryContainment, card.CategoryInvestigation, card.CategoryRemediation}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Load(fstest.MapFS{"fuzz.yaml": {Data: data}})
		if err != nil {
			if set != nil {
				t.Fatal("Load returned a set with an error")
			}
			var problem *Error
			if !errors.As(err, &problem) || problem.File != "fuzz.yaml" || problem.Problem == "" {
				t.Fatalf("error %v (%T) holds no *Error naming the file", err, err)
			}
			return
		}
		cards, err := set.Evaluate(inc)
		if err != nil && !errors.Is(err, errTooLong) {
			t.Fatalf("accepted set fails on the test incident: %v", err)
		}
		for _, c := range cards {
			if !cardIDPattern.MatchString(c.ID) || c.Status != card.StatusProposed || !c.Permission.Valid() ||
				!slices.Contains(categories, c.Category) || c.Title == "" || len(c.Why) == 0 || c.PlaybookID == "" {
				t.Fatalf("malformed card %+v", c)
			}
			if c.TimeBox > 0 && (c.Category != card.CategoryContainment || c.UndoAction == "") {
				t.Fatalf("time-boxed card without undo %+v", c)
			}
			if c.Query != "" {
				if _, err := lexKQL(c.Query); err != nil {
					t.Fatalf("query does not lex: %v\n%s", err, c.Query)
				}
			}
		}
	})
}
