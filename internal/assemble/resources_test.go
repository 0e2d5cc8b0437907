package assemble

import (
	"flag"
	"io"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

const notesOnly = "resources:\n  notes:\n    resource_methods: [GET, POST]\n    owner_field: owner\n    schema: {type: object, properties: {body: {type: string}}}\n"

// TestCheckWebappResources: only a serve that runs the web app needs the
// todos resource.
func TestCheckWebappResources(t *testing.T) {
	notes, err := resource.Parse([]byte(notesOnly), "notes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def, err := resource.Default()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		roles  string
		res    *resource.Set
		refuse bool
	}{
		{"authz,api,webapp", notes, true},
		{"webapp", notes, true},
		{"authz,api", notes, false},
		{"api", notes, false},
		{"authz,api,webapp", def, false},
	}
	for _, tc := range tests {
		c := serveConfig(t, "--roles", tc.roles, "--resources", "notes.yaml")
		err := checkWebappResources(c, tc.res)
		if (err != nil) != tc.refuse {
			t.Errorf("roles %s: err = %v, want refused %v", tc.roles, err, tc.refuse)
		}
	}
}

// serveConfig is serve's configuration from a command line.
func serveConfig(t *testing.T, args ...string) *config.Serve {
	t.Helper()
	var c config.Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &c
}
