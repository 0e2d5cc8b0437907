package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// env is the process's outside world, passed in so commands can be tested.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	lookup func(string) (string, bool)
	// setMemoryLimit sets the Go runtime's soft memory limit
	// (debug.SetMemoryLimit outside tests).
	setMemoryLimit func(bytes int64)
}

// command is one `gatehouse` subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":     {"run the authorization server, the API and the web app", runServe},
		"migrate":   {"apply database migrations and exit", runMigrate},
		"seed":      {"create the demo user, the built-in clients and demo todos (idempotent)", runSeed},
		"user":      {"add, list, remove users and set their passwords", runUser},
		"client":    {"add, list, remove OAuth clients, rotate their secrets, set how they authenticate", runClient},
		"keys":      {"list, rotate and retire the signing keys", runKeys},
		"dpop":      {"make a DPoP key and proofs, to use DPoP-bound tokens from curl", runDPoP},
		"resources": {"print the built-in resource file, check a resource file", runResources},
		"token":     {"sign in through your browser and print your access token, for curl", runToken},
	}
}

// errUsage marks an error in the command line itself (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{os.Stdin, os.Stdout, os.Stderr, os.LookupEnv, func(n int64) { debug.SetMemoryLimit(n) }}))
}

// run executes one command line and returns the exit code. Every failure is
// one line on stderr; a mistake in the flags has a second, the way to help.
func run(ctx context.Context, args []string, e env) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "gatehouse: unknown command %q (run gatehouse --help)\n", args[0])
		return 2
	}
	err := c.run(ctx, e, args[1:])
	var fe *flagError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &fe):
		fmt.Fprintf(e.stderr, "gatehouse %s: %s\nRun 'gatehouse %s --help' for usage.\n", fe.cmd, oneLine(fe.Error()), fe.cmd)
		return 2
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "gatehouse %s: %s\n", args[0], strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	default:
		fmt.Fprintf(e.stderr, "gatehouse %s: %s\n", args[0], oneLine(err.Error()))
		return 1
	}
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: gatehouse COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run gatehouse COMMAND --help for a command's flags and examples.")
	fmt.Fprintln(w, "Every flag can also be set as GATEHOUSE_<FLAG> (for example GATEHOUSE_DATA_DIR); a flag wins.")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
