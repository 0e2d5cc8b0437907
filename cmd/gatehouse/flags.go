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
	return &flagError{cmd: commandName(fs), err: explainFlagError(fs, err)}
}

// Messages of the flag package, which name a flag with one dash, as
// --help and the examples do not.
var (
	unknownFlag  = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	flagNoValue  = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	flagBadValue = regexp.MustCompile(`^invalid value ("(?:[^"\\]|\\.)*") for flag -+([a-z0-9-]+): `)
	flagBadBool  = regexp.MustCompile(`^invalid boolean value ("(?:[^"\\]|\\.)*") for -+([a-z0-9-]+): `)
	flagBoolSet  = regexp.MustCompile(`^invalid boolean flag ([a-z0-9-]+): `)
)

// explainFlagError words a flag package error the way --help names
// flags, and names the flag meant when an unknown one is a slip of the
// keyboard away from one of fs's.
func explainFlagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := unknownFlag.FindStringSubmatch(msg); m != nil {
		if near := nearestFlag(fs, m[1]); near != "" {
			return fmt.Errorf("unknown flag --%s (did you mean --%s?)", m[1], near)
		}
		return fmt.Errorf("unknown flag --%s", m[1])
	}
	if m := flagNoValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("flag --%s needs a value", m[1])
	}
	if m := flagBadValue.FindStringSubmatchIndex(msg); m != nil {
		return fmt.Errorf("invalid value %s for --%s: %s", msg[m[2]:m[3]], msg[m[4]:m[5]], msg[m[1]:])
	}
	if m := flagBadBool.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("invalid value %s for --%s: use true or false, as in --%s=false", m[1], m[2], m[2])
	}
	if m := flagBoolSet.FindStringSubmatchIndex(msg); m != nil {
		// A flag that refuses to be set says why, naming itself.
		name, why := msg[m[2]:m[3]], msg[m[1]:]
		if strings.HasPrefix(why, "--"+name) {
			return errors.New(why)
		}
		return fmt.Errorf("--%s: %s", name, why)
	}
	return err
}

// nearestFlag is the flag of fs whose name is a slip away from name (the
// nearest, the first in order on a tie), or "": at most two edits, one for
// a name of four letters or fewer, where two would make a new word.
func nearestFlag(fs *flag.FlagSet, name string) string {
	best, bestDist := "", 3
	if len(name) <= 4 {
		bestDist = 2
	}
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
