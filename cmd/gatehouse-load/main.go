package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse-load:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// Started again by itself, this executable is the bare server.
	if ran, err := loadtest.RunBareChild(ctx); ran {
		return err
	}
	c, format, err := parse(args, stderr)
	if err != nil {
		return err
	}
	rep, err := loadtest.Run(ctx, c)
	if err != nil {
		return err
	}
	if format == "json" {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteMarkdown(stdout)
}

// parse reads the command line into a run's configuration and the output
// format.
func parse(args []string, stderr io.Writer) (loadtest.Config, string, error) {
	var c loadtest.Config
	var scenarios, format string
	var http2, insecure, quiet bool
	fs := flag.NewFlagSet("gatehouse-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long each scenario runs (and again against the bare server)")
	fs.IntVar(&c.Conns, "connections", 64, "connections, each sending its next request when the previous answer is read\n"+
		"(with -rate: the pool that serves the schedule)")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: N requests per second in all on a fixed schedule, each timed from when it was due,\n"+
		"as wrk2 (the bare server at the same rate; 0: closed loops)")
	fs.IntVar(&c.MaxRequests, "max-requests", 2_000_000, "most requests per scenario and server (0: no bound but the duration)")
	fs.BoolVar(&http2, "http2", false, "speak HTTP/2 (default HTTP/1.1 keep-alive over TLS)")
	fs.BoolVar(&insecure, "insecure-http", false, "run the server with --insecure-http and speak plain HTTP/1.1")
	fs.StringVar(&c.DB, "db", "", "database DSN for the server (an empty database; default: SQLite in the temporary data directory)")
	fs.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios (default all: "+strings.Join(loadtest.Scenarios, ",")+")")
	fs.StringVar(&c.IDTokenAlg, "id-token-alg", "ES256", "the code-flow client's ID token algorithm (RS256, ES256 or EdDSA), which bounds refresh and code-exchange")
	fs.IntVar(&c.ListOwn, "list-own", 100_000, "documents of the load client, which the API scenarios read")
	fs.IntVar(&c.ListTotal, "list-total", 1_000_000, "documents in all (the rest belong to 1,000 other owners)")
	fs.StringVar(&c.ListSort, "list-sort", "due", "the api-list scenario's sort (Eve's sort parameter: due, -due, -_updated, …) of where={\"done\":false}")
	fs.IntVar(&c.ExpiredTokens, "expired-tokens", 1_000_000, "expired tokens for the history check (0 skips it)")
	fs.DurationVar(&c.HistoryDuration, "history-duration", 0, "each half of the history check (default -duration)")
	fs.StringVar(&format, "format", "markdown", "output: markdown or json")
	fs.StringVar(&c.GatehouseBin, "gatehouse-bin", "", "a built gatehouse binary (default: go build this module's)")
	fs.StringVar(&c.ServerLogLevel, "server-log-level", "info", "the server's --log-level (its default, info, logs every request)")
	fs.BoolVar(&c.NoBare, "no-bare", false, "skip the bare net/http comparison")
	fs.BoolVar(&c.KeepDir, "keep", false, "keep the temporary directory (database, server log)")
	fs.StringVar(&c.ProfileDir, "profile", "", "write a CPU profile of the server per scenario to this directory (<scenario>.pprof; read with go tool pprof)")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	fs.IntVar(&c.Instances, "instances", 1, "gatehouse processes sharing -db (PostgreSQL or MySQL for more than 1), each role behind a round-robin\n"+
		"reverse proxy in this process that terminates TLS. Given at all, even as 1, the load goes through the proxy,\n"+
		"so runs with 1 and N instances compare; not given, one instance is driven directly")
	if err := fs.Parse(args); err != nil {
		return c, "", err
	}
	if fs.NArg() > 0 {
		return c, "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "instances" {
			c.Proxy = true
		}
	})
	switch {
	case http2 && insecure:
		return c, "", errors.New("-http2 and -insecure-http exclude each other")
	case http2:
		c.Transport = loadtest.TransportH2
	case insecure:
		c.Transport = loadtest.TransportPlain
	default:
		c.Transport = loadtest.TransportH1
	}
	if scenarios != "" {
		c.Scenarios = strings.Split(scenarios, ",")
	}
	if format != "markdown" && format != "json" {
		return c, "", fmt.Errorf("-format %q: want markdown or json", format)
	}
	if !quiet {
		c.Progress = stderr
	}
	return c, format, nil
}
