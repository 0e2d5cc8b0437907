package conformance

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// testResourceServers: GetResourceServer finds the client registered for
// an audience, byte for byte; of several sharing one, the oldest.
func testResourceServers(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	const aud = "https://api.example/reports"
	long := aud + "/" + strings.Repeat("x", 300) // past a 255-character index prefix
	rs := func(id, audience string, created time.Time) storage.Client {
		return storage.Client{ID: id, Name: "Resource server " + id, SecretHash: "hash-" + id,
			GrantTypes: []string{"client_credentials"}, ResourceAudience: audience,
			ResourceScopes: []string{"reports:read"}, CreatedAt: created, UpdatedAt: created}
	}
	oldest := rs("rs-b", aud, base) // ties with rs-c on CreatedAt; the ID decides
	oldest.ResourceScopes = []string{"reports:read", "reports:write"}
	oldest.Disabled = true
	// Stored out of age order, so that the store has to sort them. The
	// padded audience is the oldest: a comparison that ignores trailing
	// spaces would find it first.
	for _, c := range []storage.Client{
		rs("rs-late", aud, at(time.Second)),
		rs("rs-c", aud, base),
		oldest,
		rs("padded", aud+" ", at(-time.Hour)),
		rs("slash", aud+"/", at(-time.Hour)),
		rs("upper", strings.ToUpper(aud), at(-time.Hour)),
		rs("other", "https://other.example", base),
		rs("long-a", long+"a", base),
		rs("long-b", long+"b", base),
		{ID: "webapp", Name: "Web app", CreatedAt: at(-2 * time.Hour), UpdatedAt: at(-2 * time.Hour)}, // no audience
	} {
		must(t, s.CreateClient(ctx, c), "CreateClient "+c.ID)
	}

	got, err := s.GetResourceServer(ctx, aud)
	must(t, err, "GetResourceServer")
	checkEqual(t, "GetResourceServer", got, oldest)

	for _, tc := range []struct {
		audience, want string // want "": ErrNotFound
	}{
		{aud + " ", "padded"},
		{aud + "/", "slash"},
		{strings.ToUpper(aud), "upper"},
		{"https://other.example", "other"},
		{long + "a", "long-a"},
		{long + "b", "long-b"},
		{"", ""},
		{aud + "  ", ""},
		{" " + aud, ""},
		{"https://api.example/report", ""},
		{"https://api.example/Reports", ""},
		{"https://other.example/", ""},
		{"HTTPS://OTHER.EXAMPLE", ""},
		{long, ""},
		{"https://nowhere.example", ""},
		{"https://api.example/\xff", ""},
	} {
		what := fmt.Sprintf("GetResourceServer(%q)", tc.audience)
		got, err := s.GetResourceServer(ctx, tc.audience)
		if tc.want == "" {
			wantErr(t, err, storage.ErrNotFound, what)
			continue
		}
		if err != nil || got.ID != tc.want {
			t.Errorf("%s = %q, %v; want %q", what, got.ID, err, tc.want)
		}
	}

	// With the oldest gone, the next oldest answers; with none left but
	// one whose audience only pads this one, none does.
	for _, step := range []struct {
		change func() error
		want   string
	}{
		{func() error { return s.DeleteClient(ctx, "rs-b") }, "rs-c"},
		{func() error { return s.DeleteClient(ctx, "rs-c") }, "rs-late"},
		{func() error { return s.SetClientResourceAudience(ctx, "rs-late", "", at(time.Hour)) }, ""},
		{func() error { return s.SetClientResourceAudience(ctx, "other", aud, at(time.Hour)) }, "other"},
	} {
		must(t, step.change(), "changing the clients")
		got, err := s.GetResourceServer(ctx, aud)
		if step.want == "" {
			wantErr(t, err, storage.ErrNotFound, "GetResourceServer after the last one left")
			continue
		}
		if err != nil || got.ID != step.want {
			t.Errorf("GetResourceServer = %q, %v; want %q", got.ID, err, step.want)
		}
	}
}
