package playbook

import (
	"fmt"
	"strconv"
	"strings"
)

// maxProblems is how many problems one load reports at most.
const maxProblems = 20

// Error is one problem with a playbook file: where it is, what is wrong and what to do about it.
type Error struct {
	// File names the playbook file (the path given to LoadDir joined with the file name, or the name
	// inside the fs.FS given to Load).
	File string
	// Line is the 1-based line of the offending YAML node; 0 when the problem has no place in the file.
	Line int
	// Path is the field path of the offending value, e.g. rules[2].cards[0].action; empty for problems
	// with the whole file.
	Path    string
	Problem string
	Fix     string
}

// Error renders the problem as FILE:LINE: PATH: PROBLEM (FIX), leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	if e.Fix != "" {
		b.WriteString(" (")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is every problem found in a set of playbook files, one per line. errors.As finds the first *Error
// in it.
type Errors []*Error

// Error joins the problems with newlines.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As see each problem.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// problems collects the problems of one load across files, up to maxProblems.
type problems struct {
	list    Errors
	dropped bool
}

func (p *problems) add(e *Error) {
	if len(p.list) >= maxProblems {
		p.dropped = true
		return
	}
	p.list = append(p.list, e)
}

// full reports whether the list is full; a check that stops early because of it marks the list as
// possibly incomplete.
func (p *problems) full() bool {
	if len(p.list) >= maxProblems {
		p.dropped = true
		return true
	}
	return false
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	list := append(Errors{}, p.list...)
	if p.dropped {
		list = append(list, &Error{
			Problem: fmt.Sprintf("stopped after %d problems; there may be more", maxProblems),
			Fix:     "fix the problems above and load again to see the rest",
		})
	}
	return list
}

// suggest returns ", did you mean X?"-style advice naming the known value closest to got, or "" when none
// is close. Case is ignored.
func suggest[T ~string](got string, known []T) string {
	best, bestDistance := "", 3
	for _, k := range known {
		d := distance(strings.ToLower(got), strings.ToLower(string(k)))
		if d < bestDistance {
			best, bestDistance = string(k), d
		}
	}
	if best == "" {
		return ""
	}
	return "did you mean " + best + "? "
}

// distance is the Levenshtein distance of a and b, in bytes; long inputs are not compared.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// list renders known values for an error message: "a, b, c".
func list[T ~string](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
