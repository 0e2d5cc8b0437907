package query_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// Run with: go test -run '^$' -bench . -benchmem ./internal/api/query

type benchSchema map[string]docquery.Type

func (s benchSchema) Field(name string) (docquery.Field, bool) {
	t, ok := s[name]
	return docquery.Field{Name: name, Type: t, Indexed: true}, ok
}

var todoSchema = benchSchema{"title": docquery.String, "done": docquery.Boolean, "due": docquery.DateTime, "tags": docquery.Array}

// BenchmarkParseWhere parses the where clauses an API list request carries,
// in Eve's two syntaxes.
func BenchmarkParseWhere(b *testing.B) {
	for _, bc := range []struct{ name, where string }{
		{"mongo/simple", `{"done":false}`},
		{"mongo/compound", `{"$or":[{"done":false},{"due":{"$gte":"2026-01-01T00:00:00Z","$lt":"2027-01-01T00:00:00Z"}}],"tags":{"$in":["home","work"]}}`},
		{"python/simple", `done==False`},
		{"python/compound", `done==False and title=="Buy milk"`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := query.ParseWhere(bc.where, todoSchema); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseSort(b *testing.B) {
	for _, bc := range []struct{ name, sort string }{
		{"eve", "due,-title"},
		{"python", `[("due", 1), ("title", -1)]`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := query.ParseSort(bc.sort, todoSchema); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
