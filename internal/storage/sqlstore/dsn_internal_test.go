package sqlstore

import (
	"path/filepath"
	"testing"
	"time"
)

func TestParseDSN(t *testing.T) {
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dsn      string
		dialect  string
		addr     string
		checkCfg func(t *testing.T, tg *target)
	}{
		{dsn: "sqlite:gatehouse-data/gatehouse.db", dialect: "sqlite", addr: filepath.Join(wd, "gatehouse-data/gatehouse.db")},
		{dsn: "sqlite:/var/lib/gatehouse/gatehouse.db", dialect: "sqlite", addr: "/var/lib/gatehouse/gatehouse.db"},
		{dsn: "sqlite:///var/lib/gatehouse/gatehouse.db", dialect: "sqlite", addr: "/var/lib/gatehouse/gatehouse.db"},
		{dsn: "postgres://gh:pw@db.internal/gatehouse?sslmode=disable", dialect: "postgres", addr: "db.internal:5432",
			checkCfg: func(t *testing.T, tg *target) {
				if tg.pg.Password != "pw" || tg.pg.Database != "gatehouse" || tg.pg.ConnectTimeout != 10*time.Second {
					t.Errorf("pgx config: password %q, database %q, connect timeout %v", tg.pg.Password, tg.pg.Database, tg.pg.ConnectTimeout)
				}
			}},
		{dsn: "postgresql://gh@10.0.0.5:6432/gatehouse?connect_timeout=3", dialect: "postgres", addr: "10.0.0.5:6432",
			checkCfg: func(t *testing.T, tg *target) {
				if tg.pg.ConnectTimeout != 3*time.Second {
					t.Errorf("connect timeout %v, want the DSN's 3s", tg.pg.ConnectTimeout)
				}
			}},
		{dsn: "mysql://gh:p%40ss%2Fw0rd@db.internal/gatehouse?tls=false&readTimeout=30s", dialect: "mysql", addr: "db.internal:3306",
			checkCfg: func(t *testing.T, tg *target) {
				c := tg.my
				if c.User != "gh" || c.Passwd != "p@ss/w0rd" || c.DBName != "gatehouse" || c.Net != "tcp" {
					t.Errorf("mysql config: user %q password %q db %q net %q", c.User, c.Passwd, c.DBName, c.Net)
				}
				if c.ReadTimeout != 30*time.Second || c.TLSConfig != "false" {
					t.Errorf("mysql config: readTimeout %v, tls %q: the DSN's parameters were not kept", c.ReadTimeout, c.TLSConfig)
				}
				if !c.ClientFoundRows || c.Loc != time.UTC || c.Params["time_zone"] != "'+00:00'" || c.Timeout != 10*time.Second {
					t.Errorf("mysql config: clientFoundRows %v, loc %v, time_zone %q, timeout %v", c.ClientFoundRows, c.Loc, c.Params["time_zone"], c.Timeout)
				}
				if tg.secret != "p@ss/w0rd" {
					t.Errorf("secret to scrub = %q", tg.secret)
				}
			}},
		{dsn: "mysql://root@[::1]:3307/gh", dialect: "mysql", addr: "[::1]:3307"},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			tg, err := parseDSN(tc.dsn, defaultConnectTimeout)
			if err != nil {
				t.Fatalf("parseDSN: %v", err)
			}
			if tg.dialect.Name() != tc.dialect || tg.addr != tc.addr {
				t.Errorf("parseDSN = %s at %s, want %s at %s", tg.dialect.Name(), tg.addr, tc.dialect, tc.addr)
			}
			if tc.checkCfg != nil {
				tc.checkCfg(t, tg)
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://gh:pw@host/db", "postgres://gh:xxxxx@host/db"},
		{"mysql://gh:p/w@d@host:3306/db?x=1", "mysql://gh:xxxxx@host:3306/db?x=1"},
		{"postgres://gh@host/db", "postgres://gh@host/db"},
		{"postgres://host/db", "postgres://host/db"},
		{"sqlite:x.db", "sqlite:x.db"},
	} {
		if got := redactDSN(tc.in); got != tc.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
