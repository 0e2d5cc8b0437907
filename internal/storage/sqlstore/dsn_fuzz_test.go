package sqlstore

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseDSN: any DSN parses or fails cleanly — never a panic — and an
// error never shows the DSN's password (the messages reach logs and the
// terminal). A parsed DSN names a dialect and an address.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{
		"sqlite:gatehouse-data/gatehouse.db", "sqlite:///var/lib/g.db", "sqlite::memory:", "sqlite:x?mode=memory", "sqlite:",
		"postgres://gh:s3cretpass@db.internal/gatehouse?sslmode=disable", "postgresql://gh@10.0.0.5:6432/g?connect_timeout=3",
		"postgres://gh:s3cretpass@db/g?sslmode=bogus", "postgres://gh:s3cretpass@db:99999/g", "postgres://gh:s3cret pass@db/g",
		"mysql://gh:p%40ss%2Fw0rd@db.internal/gatehouse?tls=false&readTimeout=30s", "mysql://root@[::1]:3307/gh",
		"mysql://gh:s3cretpass@db/g?readTimeout=bogus", "mysql://gh:s3cretpass@db/", "mysql://:s3cretpass@db/g",
		"mysql://gh:s3cret/pass@db/g", "mysql:s3cretpass", "host=db password=s3cretpass", "redis://x", "",
		"postgres://gh:s3cretpass@db/g?options=-c%20x", "postgres://gh:s3cretpass@[::1/g", "mysql://gh:s3cretpass@db/g?%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		tg, err := parseDSN(dsn, defaultConnectTimeout)
		if err != nil {
			if tg != nil {
				t.Fatal("a target with an error")
			}
			if pw := password(dsn); len(pw) >= 8 && strings.Contains(err.Error(), pw) &&
				!strings.Contains(strings.Replace(dsn, pw, "", 1), pw) {
				t.Fatalf("the error for %q shows its password: %v", dsn, err)
			}
			return
		}
		if tg.dialect.Name() == "" || tg.addr == "" {
			t.Fatalf("parsed %q to %+v", dsn, tg)
		}
	})
}

// password is what the DSN's password looks like, as far as net/url can
// tell (nothing if it cannot).
func password(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}
