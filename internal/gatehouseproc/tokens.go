package gatehouseproc

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Execer is a database handle or transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// AccessTokens are access-token records to insert: ids Prefix-0,
// Prefix-1, … up to N, created five minutes before they expire.
type AccessTokens struct {
	Prefix   string
	N        int
	ClientID string
	Subject  string
	Audience string // the one audience
	Expires  time.Time
}

// InsertAccessTokens writes the records straight into the sqlstore
// schema's access_tokens table with multi-row INSERTs: through
// CreateAccessToken a million rows would take minutes. dialect is the
// store's ("postgres" numbers its parameters).
func InsertAccessTokens(ctx context.Context, db Execer, dialect string, t AccessTokens) error {
	const rows = 400 // 9 parameters each: under every database's limit
	created := t.Expires.Add(-5 * time.Minute)
	audience := `["` + t.Audience + `"]`
	for done := 0; done < t.N; {
		k := min(rows, t.N-done)
		var q strings.Builder
		q.WriteString("INSERT INTO access_tokens (id, family_id, client_id, subject, audience, scopes, revoked, created_at, expires_at) VALUES ")
		args := make([]any, 0, k*9)
		for j := range k {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(")
			for c := range 9 {
				if c > 0 {
					q.WriteString(", ")
				}
				if dialect == "postgres" {
					q.WriteString("$" + strconv.Itoa(len(args)+c+1))
				} else {
					q.WriteString("?")
				}
			}
			q.WriteString(")")
			id := fmt.Sprintf("%s-%d", t.Prefix, done+j)
			args = append(args, id, id, t.ClientID, t.Subject, audience, `["todos:read"]`, false,
				created.UnixMicro(), t.Expires.UnixMicro())
		}
		if _, err := db.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("inserting access tokens: %w", err)
		}
		done += k
	}
	return nil
}
