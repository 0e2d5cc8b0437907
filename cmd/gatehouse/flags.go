package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// newFlagSet makes a flag set whose --help prints a description, examples and
// the flags. Its mistakes are not printed: parse returns them to run, which
// prints them in one line and a hint to --help.
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
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err := config.ApplyEnv(fs, e.lookup); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// parseArgs parses args into fs. For --help it prints the usage and returns
// flag.ErrHelp; a mistake is a *flagError, and nothing is printed.
func parseArgs(fs *flag.FlagSet, args []string) error {
	err := config.Parse(fs, args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &flagError{cmd: commandName(fs), err: err}
}

// flagError is a mistake in a command's flags (exit code 2): run prints it
// with a hint to the command's --help.
type flagError struct {
	cmd string // such as "user add"
	err error
}

func (e *flagError) Error() string { return e.err.Error() }

func (e *flagError) Unwrap() []error { return []error{errUsage, e.err} }

// commandName is the command a flag set belongs to: the leading words of its
// name ("client add" of "client add --id ID …").
func commandName(fs *flag.FlagSet) string {
	var words []string
	for _, w := range strings.Fields(fs.Name()) {
		if !commandWord.MatchString(w) {
			break
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}

var commandWord = regexp.MustCompile(`^[a-z][a-z-]*$`)

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
