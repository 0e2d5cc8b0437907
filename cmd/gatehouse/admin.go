package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

// openStore opens (and migrates) the configured database.
func openStore(ctx context.Context, s *config.Storage) (*sqlstore.Store, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	st, err := sqlstore.Open(ctx, s.DSN(), sqlstore.Options{Migrate: true, MaxOpenConns: s.MaxOpenConns})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// withStore opens the configured store, runs f on it and closes it.
func withStore(ctx context.Context, s *config.Storage, f func(st *sqlstore.Store) error) error {
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	return f(st)
}

func runMigrate(ctx context.Context, e env, args []string) error {
	var s config.Storage
	fs := newFlagSet(e, "migrate [flags]", "Apply the embedded database migrations and exit. `serve` does this at start too;\nrun it alone before starting several instances, or to check a database.",
		"  gatehouse migrate\n  gatehouse migrate --db postgres://gatehouse@db.internal/gatehouse")
	s.RegisterFlags(fs)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	return withStore(ctx, &s, func(st *sqlstore.Store) error {
		fmt.Fprintf(e.stdout, "database %s is up to date\n", st.Dialect())
		return nil
	})
}

func runUser(ctx context.Context, e env, args []string) error {
	sub := map[string]func(context.Context, env, []string) error{
		"add": userAdd, "list": userList, "remove": userRemove, "set-password": userSetPassword,
	}
	return dispatch(ctx, e, "user", "add|list|remove|set-password", sub, args)
}

func runClient(ctx context.Context, e env, args []string) error {
	sub := map[string]func(context.Context, env, []string) error{
		"add": clientAdd, "list": clientList, "remove": clientRemove, "rotate-secret": clientRotate,
	}
	return dispatch(ctx, e, "client", "add|list|remove|rotate-secret", sub, args)
}

func dispatch(ctx context.Context, e env, name, subs string, sub map[string]func(context.Context, env, []string) error, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(e.stdout, "Usage: gatehouse %s %s [flags]\nRun gatehouse %s SUBCOMMAND --help for its flags and examples.\n", name, subs, name)
		if len(args) == 0 {
			return fmt.Errorf("%w: name a subcommand: %s", errUsage, subs)
		}
		return flag.ErrHelp
	}
	f, ok := sub[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown subcommand %q (want %s)", errUsage, args[0], subs)
	}
	return f(ctx, e, args[1:])
}

// readPassword reads one line from stdin.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin")
	}
	return pw, nil
}

func userAdd(ctx context.Context, e env, args []string) error {
	var s config.Storage
	var u admin.NewUser
	var stdin bool
	fs := newFlagSet(e, "user add --username U [--email E] [--name N] --password-stdin",
		"Add a person who can sign in. The password is read from the first line of stdin\n(never from a flag, so it does not show in the process list or shell history).",
		"  echo 'correct horse battery staple' | gatehouse user add --username alice --email alice@example.com --name Alice --password-stdin")
	s.RegisterFlags(fs)
	fs.StringVar(&u.Username, "username", "", "login name (required)")
	fs.StringVar(&u.Email, "email", "", "email address")
	fs.StringVar(&u.Name, "name", "", "display name")
	fs.BoolVar(&stdin, "password-stdin", false, "read the password from stdin (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if u.Username == "" || !stdin {
		return fmt.Errorf("%w: --username and --password-stdin are required", errUsage)
	}
	pw, err := readPassword(e.stdin)
	if err != nil {
		return err
	}
	u.Password = pw
	return withStore(ctx, &s, func(st *sqlstore.Store) error {
		rec, err := admin.AddUser(ctx, st, u, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added user %s (sub %s)\n", rec.Username, rec.ID)
		return nil
	})
}

func userList(ctx context.Context, e env, args []string) error {
	var s config.Storage
	var asJSON bool
	fs := newFlagSet(e, "user list [--json]", "List users.", "  gatehouse user list\n  gatehouse user list --json")
	s.RegisterFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	return withStore(ctx, &s, func(st *sqlstore.Store) error {
		users, err := st.ListUsers(ctx)
		if err != nil {
			return fmt.Errorf("listing users: %w", err)
		}
		if asJSON {
			type row struct {
				Sub      string    `json:"sub"`
				Username string    `json:"username"`
				Email    string    `json:"email,omitempty"`
				Name     string    `json:"name,omitempty"`
				Created  time.Time `json:"created_at"`
			}
			rows := make([]row, 0, len(users))
			for _, u := range users {
				rows = append(rows, row{u.ID, u.Username, u.Email, u.Name, u.CreatedAt})
			}
			return json.NewEncoder(e.stdout).Encode(rows)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tEMAIL\tNAME\tSUB\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Email, u.Name, u.ID, u.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

func userRemove(ctx context.Context, e env, args []string) error {
	var s config.Storage
	var name string
	fs := newFlagSet(e, "user remove --username U", "Remove a user.", "  gatehouse user remove --username alice")
	s.RegisterFlags(fs)
	fs.StringVar(&name, "username", "", "login name (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%w: --username is required", errUsage)
	}
	return withStore(ctx, &s, func(st *sqlstore.Store) error {
		if err := admin.RemoveUser(ctx, st, name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed user %s\n", name)
		return nil
	})
}

func userSetPassword(ctx context.Context, e env, args []string) error {
	var s config.Storage
	var name string
	var stdin bool
	fs := newFlagSet(e, "user set-password --username U --password-stdin", "Replace a user's password (read from the first line of stdin).",
		"  printf '%s\\n' \"$NEW_PASSWORD\" | gatehouse user set-password --username alice --password-stdin")
	s.RegisterFlags(fs)
	fs.StringVar(&name, "username", "", "login name (required)")
	fs.BoolVar(&stdin, "password-stdin", false, "read the password from stdin (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if name == "" || !stdin {
		return fmt.Errorf("%w: --username and --password-stdin are required", errUsage)
	}
	pw, err := readPassword(e.stdin)
	if err != nil {
		return err
	}
	return withStore(ctx, &s, func(st *sqlstore.Store) error {
		if err := admin.SetPassword(ctx, st, name, pw, time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "set the password of %s\n", name)
		return nil
	})
}

func clientAdd(ctx context.Context, e env, args []string) error {
	var s config.Storage
	var c admin.NewClient
	var redirects, logoutRedirects, grants, scopes listFlag
	var asJSON bool
	fs := newFlagSet(e, "client add --id ID --name N --redirect-uri URI… [flags]",
		"Register an OAuth client. A confidential client's secret is generated (256 bits),\nstored only as a hash, and printed once: keep it.",
		"  gatehouse client add --id myapp --name 'My app' --redirect-uri https://myapp.example.com/callback\n"+
			"  gatehouse client add --id cli --name 'CLI' --public --redirect-uri http://127.0.0.1/callback\n"+
			"  gatehouse client add --id batch --name 'Batch job' --grant-types client_credentials --scopes todos:read --json")
	s.RegisterFlags(fs)
	fs.StringVar(&c.ID, "id", "", "client ID (required)")
	fs.StringVar(&c.Name, "name", "", "name shown on the consent page (default: the ID)")
	fs.Var(&redirects, "redirect-uri", "redirect URI, exact (repeatable)")
	fs.Var(&logoutRedirects, "post-logout-redirect-uri", "where RP-initiated logout may return (repeatable)")
	fs.BoolVar(&c.Public, "public", false, "a public client (no secret; PKCE only)")
	fs.Var(&grants, "grant-types", "grant types, comma-separated (default authorization_code,refresh_token)")
	fs.Var(&scopes, "scopes", "scopes the client may be granted (default openid,profile,email,offline_access)")
	fs.BoolVar(&asJSON, "json", false, `print {"client_id":…,"client_secret":…} for scripts`)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if c.ID == "" {
		return fmt.Errorf("%w: --id is required", errUsage)
	}
	c.RedirectURIs, c.PostLogoutRedirectURIs = redirects, logoutRedirects
	c.GrantTypes, c.Scopes = grants, scopes
	return withStore(ctx, &s, func(st *sqlstore.Store) error {
		rec, plain, err := admin.AddClient(ctx, st, c, time.Now())
		if err != nil {
			return err
		}
		if asJSON {
			out := map[string]string{"client_id": rec.ID}
			if plain != "" {
				out["client_secret"] = plain
			}
			return json.NewEncoder(e.stdout).Encode(out)
		}
		fmt.Fprintf(e.stdout, "added client %s\n", rec.ID)
		if plain != "" {
			fmt.Fprintf(e.stdout, "client secret (shown once): %s\n", plain)
		}
		return nil
	})
}

func clientList(ctx context.Context, e env, args []string) error {
	var s config.Storage
	var asJSON bool
	fs := newFlagSet(e, "client list [--json]", "List registered clients (never their secrets).", "  gatehouse client list")
	s.RegisterFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	return withStore(ctx, &s, func(st *sqlstore.Store) error {
		clients, err := st.ListClients(ctx)
		if err != nil {
			return fmt.Errorf("listing clients: %w", err)
		}
		if asJSON {
			type row struct {
				ID           string   `json:"client_id"`
				Name         string   `json:"name"`
				Public       bool     `json:"public"`
				RedirectURIs []string `json:"redirect_uris"`
				GrantTypes   []string `json:"grant_types"`
				Scopes       []string `json:"scopes"`
			}
			rows := make([]row, 0, len(clients))
			for _, c := range clients {
				rows = append(rows, row{c.ID, c.Name, c.Public, c.RedirectURIs, c.GrantTypes, c.Scopes})
			}
			return json.NewEncoder(e.stdout).Encode(rows)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tNAME\tTYPE\tGRANTS\tREDIRECT URIS")
		for _, c := range clients {
			kind := "confidential"
			if c.Public {
				kind = "public"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, strings.Join(c.GrantTypes, ","), strings.Join(c.RedirectURIs, " "))
		}
		return tw.Flush()
	})
}

func clientRemove(ctx context.Context, e env, args []string) error {
	var s config.Storage
	var id string
	fs := newFlagSet(e, "client remove --id ID", "Remove a client registration.", "  gatehouse client remove --id myapp")
	s.RegisterFlags(fs)
	fs.StringVar(&id, "id", "", "client ID (required)")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%w: --id is required", errUsage)
	}
	return withStore(ctx, &s, func(st *sqlstore.Store) error {
		if err := admin.RemoveClient(ctx, st, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed client %s\n", id)
		return nil
	})
}

func clientRotate(ctx context.Context, e env, args []string) error {
	var s config.Storage
	var id string
	var asJSON bool
	fs := newFlagSet(e, "client rotate-secret --id ID [--json]", "Give a confidential client a new secret; the old one stops working within 5 seconds on every instance.",
		"  gatehouse client rotate-secret --id myapp")
	s.RegisterFlags(fs)
	fs.StringVar(&id, "id", "", "client ID (required)")
	fs.BoolVar(&asJSON, "json", false, `print {"client_id":…,"client_secret":…}`)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%w: --id is required", errUsage)
	}
	return withStore(ctx, &s, func(st *sqlstore.Store) error {
		plain, err := admin.RotateClientSecret(ctx, st, id, time.Now())
		if err != nil {
			return err
		}
		if asJSON {
			return json.NewEncoder(e.stdout).Encode(map[string]string{"client_id": id, "client_secret": plain})
		}
		fmt.Fprintf(e.stdout, "new client secret for %s (shown once): %s\n", id, plain)
		return nil
	})
}
