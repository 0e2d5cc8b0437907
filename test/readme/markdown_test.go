package readme

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseBlocks(t *testing.T) {
	doc := strings.Join([]string{
		"# Title",
		"```yaml",
		"a: 1",
		"```",
		"<!-- readme-test: background until Gatehouse is running -->",
		"```sh",
		"./gatehouse serve",
		"```",
		"text",
		"<!-- readme-test: output contains 401 Unauthorized -->",
		"<!-- readme-test: output contains Bearer -->",
		"```bash",
		"curl -sSi x",
		"",
		"curl y",
		"```",
		"<!-- readme-test: skip needs a systemd host -->",
		"```sh",
		"systemctl start gatehouse",
		"```",
		"```",
		"not run",
		"```",
	}, "\n")
	got, err := parseBlocks("doc.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []block{
		{line: 6, script: "./gatehouse serve\n", background: "Gatehouse is running"},
		{line: 12, script: "curl -sSi x\n\ncurl y\n", contains: []string{"401 Unauthorized", "Bearer"}},
		{line: 18, script: "systemctl start gatehouse\n", skip: "needs a systemd host"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseBlocks:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseBlocksErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"skip without reason", "<!-- readme-test: skip -->\n```sh\nx\n```\n", "unknown readme-test directive"},
		{"misspelt", "<!-- readme-test: backgroud until x -->\n```sh\nx\n```\n", "unknown readme-test directive"},
		{"before a yaml block", "<!-- readme-test: skip why -->\n```yaml\nx\n```\n", "apply only to sh blocks"},
		{"at the end", "```sh\nx\n```\n<!-- readme-test: skip why -->\n", "before no block"},
		{"unclosed", "```sh\nx\n", "not closed"},
		{"two lines", "<!-- readme-test: skip why\n-->\n```sh\nx\n```\n", "fit on one line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseBlocks("doc.md", tt.doc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseBlocks: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
