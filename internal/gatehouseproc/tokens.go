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

// TokenRows are rows of the token tables to insert, a backlog for the
// janitor: for each i below N, a grant Prefix-i of ClientID and UserID, the
// one refresh token of its family (ID Prefix-i, hash Prefix-i) and the ID
// Prefix-i on the list of revoked access tokens, each created five minutes
// before it expires at Expires. That is 3N rows.
type TokenRows struct {
	Prefix   string
	N        int
	ClientID string
	UserID   string
	Audience string // the refresh tokens' one audience
	Expires  time.Time
}

// InsertTokenRows writes the rows straight into the sqlstore schema's
// grants, refresh_tokens and revoked_tokens tables with multi-row INSERTs:
// through the store, a million rows would take minutes. dialect is the
// store's ("postgres" numbers its parameters).
func InsertTokenRows(ctx context.Context, db Execer, dialect string, t TokenRows) error {
	created := t.Expires.Add(-5 * time.Minute).UnixMicro()
	expires := t.Expires.UnixMicro()
	audience := `["` + t.Audience + `"]`
	tables := []struct {
		name string
		cols []string
		row  func(id string) []any
	}{
		{"grants", []string{"id", "client_id", "user_id", "revoked", "created_at", "expires_at"},
			func(id string) []any { return []any{id, t.ClientID, t.UserID, false, created, expires} }},
		{"refresh_tokens", []string{"id", "token_hash", "family_id", "client_id", "user_id", "scopes", "audience",
			"auth_time", "amr", "used", "revoked", "idle_expires_at", "expires_at", "created_at"},
			func(id string) []any {
				return []any{id, id, id, t.ClientID, t.UserID, `["openid","offline_access"]`, audience, created,
					`["pwd"]`, false, false, expires, expires, created}
			}},
		{"revoked_tokens", []string{"id", "expires_at"}, func(id string) []any { return []any{id, expires} }},
	}
	for _, tab := range tables {
		// At most 400 rows of at most 14 parameters: under every
		// database's limit (SQLite's is 32,766, MySQL's and PostgreSQL's
		// 65,535).
		const rows = 400
		for done := 0; done < t.N; {
			k := min(rows, t.N-done)
			var q strings.Builder
			q.WriteString("INSERT INTO " + tab.name + " (" + strings.Join(tab.cols, ", ") + ") VALUES ")
			args := make([]any, 0, k*len(tab.cols))
			for j := range k {
				if j > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(")
				for c := range tab.cols {
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
				args = append(args, tab.row(fmt.Sprintf("%s-%d", t.Prefix, done+j))...)
			}
			if _, err := db.ExecContext(ctx, q.String(), args...); err != nil {
				return fmt.Errorf("inserting %s: %w", tab.name, err)
			}
			done += k
		}
	}
	return nil
}
