package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// newFlagSet makes a flag set whose --help prints a description, examples and
// the flags, and whose errors come back to run (not printed twice).
func newFlagSet(e env, name, synopsis, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := e.stdout
		fmt.Fprintf(w, "Usage: gatehouse %s\n\n%s\n", name, synopsis)
		if examples != "" {
			fmt.Fprintf(w, "\nExamples:\n%s\n", examples)
		}
		fmt.Fprintln(w, "\nFlags (each also as GATEHOUSE_<FLAG>):")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses args, then fills unset flags from the environment.
func parse(fs *flag.FlagSet, e env, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err // the flag package has printed the usage
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err := config.ApplyEnv(fs, e.lookup); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// listFlag collects a repeatable flag; a value with commas or spaces adds
// several. Once given, even as "", the list is not nil: --scopes "" means
// no scopes, where leaving the flag out means the defaults.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	if *l == nil {
		*l = []string{}
	}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		*l = append(*l, f)
	}
	return nil
}
