package incident

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxProblems is how many problems one parse or validation reports at most, so that a user can fix several
// at once without drowning in a thousand copies of the same mistake.
const maxProblems = 20

// ParseError is one problem with an input document or an incident: where it is, what is wrong and what to
// do about it.
type ParseError struct {
	// File names the input (the file path given to ParseFile, the name given to Parse); empty for Validate.
	File string
	// Path is the JSON path of the offending value, e.g. $.value[1].alerts[0].evidence[3].verdict, spelled
	// as the input spells it (Graph or native field names). Empty when the problem has no place in the JSON
	// tree, like a syntax error; Line and Column say where it is then.
	Path string
	// Line and Column (1-based, column in characters) locate JSON syntax errors in the text; 0 otherwise.
	Line, Column int
	Problem      string
	Fix          string
}

// Error renders the problem as FILE: PATH: PROBLEM (FIX), leaving out the parts that are empty.
func (e *ParseError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
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

// ParseErrors is several problems found in one input, in the order they were found, one per line.
// errors.As finds the first *ParseError in it.
type ParseErrors []*ParseError

// Error joins the problems with newlines.
func (es ParseErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As see each problem.
func (es ParseErrors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// problems collects the problems of one input, up to maxProblems, and notes whether it left any out.
// Checks stop early once it is full, so it cannot tell how many it left out.
type problems struct {
	file    string
	list    ParseErrors
	dropped bool
}

func (p *problems) add(path, problem, fix string) {
	if len(p.list) >= maxProblems {
		p.dropped = true
		return
	}
	p.list = append(p.list, &ParseError{File: p.file, Path: path, Problem: problem, Fix: fix})
}

// full reports whether further problems would be dropped; long checks stop early then.
func (p *problems) full() bool { return len(p.list) >= maxProblems }

func (p *problems) found() bool { return len(p.list) > 0 }

// err returns the collected problems as a ParseErrors, or nil when there are none.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	if p.dropped {
		list := append(ParseErrors{}, p.list...)
		return append(list, &ParseError{
			File:    p.file,
			Problem: fmt.Sprintf("more problems not shown (at most %d are)", maxProblems),
			Fix:     "fix the problems above and parse again to see the rest",
		})
	}
	return p.list
}

// lineColumn converts a byte offset into data into a 1-based line and a 1-based column counted in
// characters, as editors show them.
func lineColumn(data []byte, offset int) (line, column int) {
	offset = min(max(offset, 0), len(data))
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte("\n"))
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	column = 1 + utf8.RuneCount(before[lineStart:])
	return line, column
}
