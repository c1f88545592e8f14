package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Check fails when the database lacks a migration this binary needs. Production workers call it at start
// instead of migrating: schema changes are applied explicitly, with `worker migrate`.
func Check(ctx context.Context, db *sql.DB) error {
	all, err := Status(ctx, db)
	if err != nil {
		return err
	}
	var pending []string
	for _, m := range all {
		if !m.Applied {
			pending = append(pending, m.File)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("the database lacks %d migration(s) (%s): run `worker migrate` with the same DATABASE_URL, then start the worker again",
			len(pending), strings.Join(pending, ", "))
	}
	return nil
}
