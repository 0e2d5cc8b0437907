package api

import (
	"maps"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// dateDoc describes the date format of the answers.
func dateDoc(set *resource.Set) (format, example string) {
	if set.Wire.DateFormat == "rfc3339" {
		return "RFC 3339 in UTC", "2026-12-01T10:00:00.000Z"
	}
	return "RFC 1123 (Eve's DATE_FORMAT)", "Tue, 01 Dec 2026 10:00:00 GMT"
}

// wireSchema is a resource's schema as documents travel: its date-time
// properties are written in the date format, and read in RFC 1123 or
// RFC 3339.
func wireSchema(set *resource.Set, r *resource.Resource) map[string]any {
	format, example := dateDoc(set)
	out := maps.Clone(r.SchemaDoc)
	props, _ := r.SchemaDoc["properties"].(map[string]any)
	props = maps.Clone(props)
	for _, f := range r.Fields {
		p, _ := props[f.Name].(map[string]any)
		if f.Type != docquery.DateTime || p == nil {
			continue
		}
		p = maps.Clone(p)
		delete(p, "format")
		p["description"] = "A date: answered in " + format + "; accepted in RFC 1123 or RFC 3339"
		p["examples"] = []any{example}
		props[f.Name] = p
	}
	if props != nil {
		out["properties"] = props
	}
	return out
}

// openAPI builds an OpenAPI 3.1 document from the resource file. OpenAPI
// 3.1 schemas are JSON Schema 2020-12, so each resource's schema is used as
// it is.
func openAPI(set *resource.Set, publicURL string) map[string]any {
	errResp := map[string]any{"description": "Eve error envelope", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	paths := map[string]any{}
	schemas := map[string]any{
		"Error": map[string]any{"type": "object", "properties": map[string]any{
			"_status": map[string]any{"const": "ERR"},
			"_error":  map[string]any{"type": "object", "properties": map[string]any{"code": map[string]any{"type": "integer"}, "message": map[string]any{"type": "string"}}},
			// Cerberus' messages by field; the fields of arrays and objects nest.
			"_issues": map[string]any{"type": "object", "additionalProperties": map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "object"}}}},
		}},
	}
	for _, r := range set.Resources {
		ref := map[string]any{"$ref": "#/components/schemas/" + r.Name}
		schemas[r.Name] = wireSchema(set, r)
		format, example := dateDoc(set)
		dateHeader := map[string]any{"description": "HTTP date (RFC 9110)", "schema": map[string]any{"type": "string"}}
		header := func(desc, typ string) map[string]any {
			return map[string]any{"description": desc, "schema": map[string]any{"type": typ}}
		}
		metaDate := map[string]any{"type": "string", "description": "answered in " + format, "examples": []any{example}}
		written := map[string]any{"type": "object", "properties": map[string]any{
			"_status": map[string]any{"const": "OK"}, "_id": map[string]any{"type": "string", "pattern": "^[0-9a-f]{24}$"},
			"_etag": map[string]any{"type": "string"}, "_created": metaDate, "_updated": metaDate, "_links": map[string]any{"type": "object"}}}
		writtenContent := map[string]any{"application/json": map[string]any{"schema": written}}
		bodies := func(schema map[string]any) map[string]any {
			// Eve reads forms too: each field a string, a repeated field a
			// list of strings, without coercion.
			form := map[string]any{"schema": map[string]any{"type": "object", "additionalProperties": true}}
			return map[string]any{"application/json": map[string]any{"schema": schema},
				"application/x-www-form-urlencoded": form, "multipart/form-data": form}
		}
		sec := func(scope string) []any { return []any{map[string]any{"bearer": []string{scope}}} }
		params := []any{}
		for _, p := range []string{"where", "sort", "projection", "max_results", "page"} {
			params = append(params, map[string]any{"name": p, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		// Eve's ?embedded=, for the relations that may be embedded.
		var embeddable []string
		for _, rel := range r.Relations {
			if rel.Embeddable && !strings.Contains(rel.Path, ".") {
				embeddable = append(embeddable, rel.Path)
			}
		}
		var itemParams []any
		if len(embeddable) > 0 {
			embedded := map[string]any{"name": embedParam, "in": "query", "schema": map[string]any{"type": "string"},
				"description": `A JSON object such as {"` + embeddable[0] + `": 1}: the referenced documents in place of the references ` +
					"(a reference to no document stays as it is); needs the referenced resource's read scope. Embeddable: " +
					strings.Join(embeddable, ", ") + "."}
			params = append(params, embedded)
			itemParams = append(itemParams, embedded)
		}
		coll := map[string]any{}
		for _, m := range r.ResourceMethods {
			switch m {
			case "GET":
				coll["get"] = map[string]any{"summary": "List " + r.Name, "parameters": params, "security": sec(r.ReadScope()),
					"responses": map[string]any{"200": map[string]any{"description": "A page of documents", "headers": map[string]any{
						"X-Total-Count": header("the number of matching documents", "integer"),
						"Last-Modified": dateHeader,
					}}, "400": errResp, "401": errResp, "403": errResp}}
			case "POST":
				coll["post"] = map[string]any{"summary": "Create one or more " + r.Name, "security": sec(r.WriteScope()),
					"description": "A document may carry its own _id (24 lower-case hexadecimal digits); a taken one answers 409.",
					"requestBody": map[string]any{"required": true, "content": bodies(map[string]any{"oneOf": []any{ref, map[string]any{"type": "array", "items": ref}}})},
					"responses": map[string]any{"201": map[string]any{"description": "Created", "content": writtenContent,
						"headers": map[string]any{"Location": header("the first document's URL", "string")}},
						"400": errResp, "401": errResp, "403": errResp, "409": errResp, "422": errResp}}
			}
		}
		item := map[string]any{"parameters": []any{map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}}}
		ifMatch := map[string]any{"name": "If-Match", "in": "header", "required": true, "schema": map[string]any{"type": "string"}}
		for _, m := range r.ItemMethods {
			switch m {
			case "GET":
				get := map[string]any{"summary": "Get a " + r.ItemTitle, "security": sec(r.ReadScope()),
					"responses": map[string]any{"200": map[string]any{"description": "The document", "content": map[string]any{"application/json": map[string]any{"schema": ref}},
						"headers": map[string]any{"ETag": header("the entity tag", "string"), "Last-Modified": dateHeader}},
						"304": map[string]any{"description": "Not modified"}, "404": errResp}}
				if l := r.Lookup; l != nil {
					// OpenAPI cannot tell two templates of one path apart.
					get["description"] = "The id may also be a value of " + l.Field + " (additional_lookup, matching " +
						strings.TrimSuffix(strings.TrimPrefix(l.Match.String(), "^(?:"), ")$") + "): the document with that " + l.Field + "."
				}
				if itemParams != nil {
					get["parameters"] = itemParams
					get["responses"].(map[string]any)["400"] = errResp
					get["responses"].(map[string]any)["403"] = errResp
				}
				item["get"] = get
			case "PATCH", "PUT":
				ok := map[string]any{"description": "Updated", "content": writtenContent}
				op := map[string]any{"summary": m + " a " + r.ItemTitle, "security": sec(r.WriteScope()), "parameters": []any{ifMatch},
					"description": "If-Match is needed when the document exists. A 422 has _issues and no _error.",
					"requestBody": map[string]any{"required": true, "content": bodies(map[string]any{"type": "object"})},
					"responses":   map[string]any{"200": ok, "404": errResp, "412": errResp, "422": errResp, "428": errResp}}
				if m == "PUT" {
					// Not needed for a document a PUT creates.
					op["parameters"] = []any{map[string]any{"name": "If-Match", "in": "header", "schema": map[string]any{"type": "string"}}}
					ok["headers"] = map[string]any{"ETag": header("the entity tag", "string"), "Last-Modified": dateHeader}
					if set.Wire.UpsertOnPut == nil || *set.Wire.UpsertOnPut {
						op["responses"].(map[string]any)["201"] = map[string]any{"description": "Created: the id was missing (upsert_on_put)", "content": writtenContent,
							"headers": map[string]any{"Location": header("the document's URL", "string")}}
					}
				}
				item[map[string]string{"PATCH": "patch", "PUT": "put"}[m]] = op
			case "DELETE":
				item["delete"] = map[string]any{"summary": "Delete a " + r.ItemTitle, "security": sec(r.WriteScope()), "parameters": []any{ifMatch},
					"responses": map[string]any{"204": map[string]any{"description": "Deleted"}, "404": errResp, "412": errResp, "428": errResp}}
			}
		}
		paths["/"+r.URL] = coll
		paths["/"+r.URL+"/{id}"] = item
	}
	stateDocs(set, paths, schemas)
	return map[string]any{
		"openapi":    "3.1.0",
		"info":       map[string]any{"title": "Gatehouse API", "version": "1"},
		"servers":    []any{map[string]any{"url": publicURL + Prefix}},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
	}
}
