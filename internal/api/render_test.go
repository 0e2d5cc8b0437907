package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// A document is rendered with its stored field values as they are: numbers
// keep every digit (a decode into float64 and back would round
// 9007199254740993 to …992), and a projection still drops fields.
func TestRenderKeepsStoredValues(t *testing.T) {
	h := &handler{s: &Server{cfg: Config{Resources: &resource.Set{}}}, res: &resource.Resource{Name: "todos", URL: "todos", ItemTitle: "todo"}}
	d := docstore.Document{ID: "d1", Owner: "alice", Created: time.Unix(0, 0), Updated: time.Unix(0, 0), ETag: "e1",
		Data: json.RawMessage(`{"big":9007199254740993,"title":"x","tags":["a",{"b":1.50}]}`)}
	tests := []struct {
		name       string
		projection query.Projection
		want       []string // in the encoded document
		not        []string
	}{
		{"everything", query.Projection{}, []string{`"big":9007199254740993`, `"tags":["a",{"b":1.50}]`, `"_id":"d1"`, `"_etag":"e1"`}, nil},
		{"projected", query.Projection{Include: true, Fields: map[string]bool{"title": true}}, []string{`"title":"x"`, `"_id":"d1"`}, []string{`"big"`, `"tags"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.render(d, tt.projection, false)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s: no %s", b, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(string(b), w) {
					t.Errorf("%s: has %s", b, w)
				}
			}
		})
	}
}
