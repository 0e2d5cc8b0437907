package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/loopback"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
	"github.com/gatehouse-dev/gatehouse/internal/tokencli"
)

// `gatehouse token`: a person's access token for curl, through their
// browser (internal/tokencli).

func runToken(ctx context.Context, e env, args []string) error {
	var (
		o                       tokencli.Options
		scopes, caFile, dataDir string
		noBrowser, asJSON       bool
	)
	fs := newFlagSet(e, "token [flags]",
		"Sign in through your browser and print an access token for the API, alone on standard output\n"+
			"(the address to open goes to standard error). It runs the authorization code flow with PKCE of\n"+
			"the public client gatehouse-cli, which gatehouse serve registers, on a loopback redirect\n"+
			"(http://127.0.0.1:<free port>/callback). For an issuer on this machine (or with --data-dir), the\n"+
			"local CA in <data-dir>/tls is trusted when it is there.",
		"  TOKEN=$(gatehouse token)\n"+
			"  curl -sS https://127.0.0.1:8001/api/todos -H \"Authorization: Bearer $TOKEN\" --cacert gatehouse-data/tls/local-ca.pem\n"+
			"  gatehouse token --no-browser --json --scopes \"openid todos:read\"\n"+
			"  gatehouse token --issuer https://auth.example.com --client-id my-cli")
	fs.StringVar(&o.Issuer, "issuer", defaultIssuer(), "the authorization server's issuer `URL`")
	fs.StringVar(&o.ClientID, "client-id", admin.CLIClientID, "the public client to sign in with (registered for http://127.0.0.1/callback)")
	fs.StringVar(&scopes, "scopes", "openid todos:read todos:write", "the scopes to ask for, separated by spaces or commas")
	fs.StringVar(&caFile, "ca-file", "", "extra CA certificate (PEM) to trust for the issuer")
	fs.StringVar(&dataDir, "data-dir", "gatehouse-data", "data directory of a local gatehouse serve, whose local CA (tls/"+tlsconf.CACertFile+") is trusted")
	fs.BoolVar(&noBrowser, "no-browser", false, "only print the address to open, do not start a browser (otherwise $BROWSER, or the system's opener)")
	fs.DurationVar(&o.Timeout, "timeout", tokencli.DefaultTimeout, "how long to wait for the sign-in")
	fs.BoolVar(&asJSON, "json", false, "print the token response (access_token, token_type, expires_in, refresh_token, scope) as JSON")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	o.Scopes = strings.FieldsFunc(scopes, func(r rune) bool { return r == ' ' || r == ',' })
	caFiles := []string{caFile}
	if trustLocalCA(o.Issuer, dataDirGiven(fs)) {
		localCA := filepath.Join(dataDir, "tls", tlsconf.CACertFile)
		if _, err := os.Stat(localCA); err == nil {
			caFiles = append(caFiles, localCA)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("the local CA: %w", err)
		}
	}
	hc, err := tlsconf.HTTPClient(30*time.Second, caFiles...)
	if err != nil {
		return err
	}
	o.HTTPClient, o.Out = hc, e.stderr
	if b, ok := e.lookup("BROWSER"); ok && b != "" && !noBrowser {
		o.OpenBrowser = tokencli.CommandBrowser(b)
	} else if !noBrowser {
		o.OpenBrowser = tokencli.SystemBrowser
	}
	tok, err := tokencli.Get(ctx, o)
	var unknownCA x509.UnknownAuthorityError
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w (trust its CA with --ca-file, or give --data-dir of the local gatehouse serve)", err)
	case err != nil:
		return err
	}
	return printToken(e.stdout, tok, asJSON)
}

func printToken(w io.Writer, tok tokencli.Token, asJSON bool) error {
	if !asJSON {
		_, err := fmt.Fprintln(w, tok.AccessToken)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(tok)
}

// defaultIssuer is the issuer of `gatehouse serve` with its default flags.
func defaultIssuer() string {
	var c config.Serve
	c.RegisterFlags(flag.NewFlagSet("serve", flag.ContinueOnError))
	return c.IssuerURL()
}

// dataDirGiven reports whether --data-dir was on the command line.
func dataDirGiven(fs *flag.FlagSet) bool {
	var given bool
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "data-dir" })
	return given
}

// trustLocalCA says whether the data directory's local CA is trusted for
// the issuer: for an issuer on this machine, or when --data-dir names the
// directory. The local CA vouches for loopback addresses only (it is
// name-constrained); trusting a file found in the working directory for a
// remote issuer would let whoever wrote it vouch for that issuer.
func trustLocalCA(issuer string, dataDirGiven bool) bool {
	u, err := url.Parse(issuer)
	return dataDirGiven || err == nil && loopback.Host(u.Hostname())
}
