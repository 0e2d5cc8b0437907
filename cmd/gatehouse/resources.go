package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
)

func runResources(ctx context.Context, e env, args []string) error {
	sub := map[string]func(context.Context, env, []string) error{"default": resourcesDefault, "check": resourcesCheck}
	return dispatch(ctx, e, "resources", "default|check", sub, args)
}

func resourcesDefault(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "resources default",
		"Print the built-in resource file (the todos resource the web app uses), to start a resource\n"+
			"file of your own from: a file given to --resources replaces it, so keep its todos resource\n"+
			"when the web app runs. docs/resources.md describes every key.",
		"  gatehouse resources default > resources.yaml")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	_, err := e.stdout.Write(resource.DefaultYAML())
	return err
}

func resourcesCheck(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "resources check FILE",
		"Check a resource file as `serve --resources FILE` reads it, and print its resources, their\n"+
			"URLs, methods and scopes, and whether the web app can run with it.",
		"  gatehouse resources check resources.yaml")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: name one resource file: resources check FILE", errUsage)
	}
	path := fs.Arg(0)
	s, err := resource.LoadResources(path)
	if err != nil {
		return err
	}
	printResources(e, path, s)
	return nil
}

// printResources describes a loaded resource file: a table of its
// resources, the scopes to give clients, and whether the web app fits.
func printResources(e env, path string, s *resource.Set) {
	noun := "resources"
	if len(s.Resources) == 1 {
		noun = "resource"
	}
	fmt.Fprintf(e.stdout, "%s is valid: %d %s\n", path, len(s.Resources), noun)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tURL\tMETHODS\tITEM METHODS\tSCOPES\tOWNER FIELD\tPUBLIC")
	for _, r := range s.Resources {
		public := append(append([]string{}, r.PublicMethods...), itemPrefixed(r.PublicItemMethods)...)
		fmt.Fprintf(tw, "%s\t/api/%s\t%s\t%s\t%s %s\t%s\t%s\n", r.Name, r.URL,
			strings.Join(r.ResourceMethods, ","), strings.Join(r.ItemMethods, ","),
			r.ReadScope(), r.WriteScope(), orDash(r.OwnerField), orDash(strings.Join(public, ",")))
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "Scopes to give clients: %s\n", strings.Join(s.Scopes(), " "))
	if err := s.CheckWebapp(); err != nil {
		fmt.Fprintf(e.stdout, "The web app cannot run with it: %v. Keep a todos resource (gatehouse resources default prints it), or serve without the web app: --roles authz,api\n", err)
		return
	}
	fmt.Fprintln(e.stdout, "The web app can run with it (its todos resource fits).")
}

func itemPrefixed(methods []string) []string {
	out := make([]string, len(methods))
	for i, m := range methods {
		out[i] = "item " + m
	}
	return out
}
