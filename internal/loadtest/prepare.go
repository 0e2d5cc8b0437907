package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

// writeResources writes the built-in resource file without its per-token
// rate limits (absent means unlimited): a load run sends far more than a
// person would.
func writeResources(path string) error {
	var doc map[string]any
	if err := yaml.Unmarshal(resource.DefaultYAML(), &doc); err != nil {
		return fmt.Errorf("built-in resources: %w", err)
	}
	delete(doc, "rate_limit")
	b, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// addClient registers a confidential client with the admin CLI and returns
// its secret.
func (g *gatehouse) addClient(ctx context.Context, args ...string) (string, error) {
	out, err := g.admin(ctx, "", append([]string{"client", "add", "--json"}, args...)...)
	if err != nil {
		return "", err
	}
	var r struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Secret == "" {
		return "", fmt.Errorf("client add printed %q, want its secret as JSON", out)
	}
	return r.Secret, nil
}

// docSpec is what the list scenario needs in the store.
type docSpec struct {
	collection string
	owner      string // the load client's documents
	own        int
	total      int // all documents, the rest owned by others
}

// insertDocuments writes the documents straight through docstore, batch by
// batch, and returns up to keep IDs of the owner's documents. Half of them
// are done, their due dates spread over a year; other owners' documents
// are spread over 1,000 owners.
func insertDocuments(ctx context.Context, dsn string, res *resource.Set, spec docSpec, keep int) ([]string, error) {
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	docs, err := docstore.New(st.DB(), st.ReadDB(), st.Dialect())
	if err != nil {
		return nil, err
	}
	r, ok := res.ByURL(spec.collection)
	if !ok {
		return nil, fmt.Errorf("no resource %q", spec.collection)
	}
	if err := docs.Ensure(ctx, r.Collection()); err != nil {
		return nil, err
	}
	const batch = 5000
	base := time.Now().UTC().Add(-24 * time.Hour)
	var ids []string
	buf := make([]docstore.Document, 0, batch)
	// The owner's documents are interleaved with everyone else's, as a
	// shared table would hold them.
	stride := max(spec.total/max(spec.own, 1), 1)
	own := 0
	for i := range spec.total {
		owner, n := "other-"+strconv.Itoa(i%1000), i
		if i%stride == 0 && own < spec.own {
			owner, n = spec.owner, own
			own++
		}
		due := base.Add(time.Duration(n%365) * 24 * time.Hour).Format(time.RFC3339)
		data := `{"title":"todo ` + strconv.Itoa(n) + `","done":` + strconv.FormatBool(n%2 == 1) + `,"due":"` + due + `","tags":["load"]}`
		at := base.Add(time.Duration(i) * time.Millisecond)
		d := docstore.Document{ID: docstore.NewID(), Owner: owner, Created: at, Updated: at, ETag: docstore.NewETag(), Data: []byte(data)}
		if owner == spec.owner && len(ids) < keep {
			ids = append(ids, d.ID)
		}
		buf = append(buf, d)
		if len(buf) == batch {
			if err := docs.Insert(ctx, r.Name, buf); err != nil {
				return nil, err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if err := docs.Insert(ctx, r.Name, buf); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// insertExpiredTokens writes n access-token records that expired an hour
// ago, in batches of multi-row INSERTs, the rows the janitor has to remove.
// It writes the sqlstore schema's columns directly: through
// CreateAccessToken a million rows would take minutes.
func insertExpiredTokens(ctx context.Context, dsn string, n int) error {
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	const rows = 400 // 9 parameters each: under every database's limit
	expired := time.Now().Add(-time.Hour)
	created := expired.Add(-5 * time.Minute)
	for done := 0; done < n; {
		k := min(rows, n-done)
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
				if st.Dialect() == "postgres" {
					q.WriteString("$" + strconv.Itoa(len(args)+c+1))
				} else {
					q.WriteString("?")
				}
			}
			q.WriteString(")")
			id := fmt.Sprintf("expired-%d", done+j)
			args = append(args, id, id, "load-history", "load-history", `["load"]`, `["todos:read"]`, false,
				created.UnixMicro(), expired.UnixMicro())
		}
		if _, err := st.DB().ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("inserting expired tokens: %w", err)
		}
		done += k
	}
	return nil
}
