package api

import (
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
)

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
			"_issues": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
		}},
	}
	for _, r := range set.Resources {
		ref := map[string]any{"$ref": "#/components/schemas/" + r.Name}
		schemas[r.Name] = r.SchemaDoc
		sec := func(scope string) []any { return []any{map[string]any{"bearer": []string{scope}}} }
		params := []any{}
		for _, p := range []string{"where", "sort", "projection", "max_results", "page"} {
			params = append(params, map[string]any{"name": p, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		coll := map[string]any{}
		for _, m := range r.ResourceMethods {
			switch m {
			case "GET":
				coll["get"] = map[string]any{"summary": "List " + r.Name, "parameters": params, "security": sec(r.ReadScope()),
					"responses": map[string]any{"200": map[string]any{"description": "A page of documents"}, "400": errResp, "401": errResp, "403": errResp}}
			case "POST":
				coll["post"] = map[string]any{"summary": "Create one or more " + r.Name, "security": sec(r.WriteScope()),
					"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"oneOf": []any{ref, map[string]any{"type": "array", "items": ref}}}}}},
					"responses":   map[string]any{"201": map[string]any{"description": "Created"}, "400": errResp, "401": errResp, "403": errResp, "422": errResp}}
			}
		}
		item := map[string]any{"parameters": []any{map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}}}
		ifMatch := map[string]any{"name": "If-Match", "in": "header", "required": true, "schema": map[string]any{"type": "string"}}
		for _, m := range r.ItemMethods {
			switch m {
			case "GET":
				item["get"] = map[string]any{"summary": "Get a " + r.ItemTitle, "security": sec(r.ReadScope()),
					"responses": map[string]any{"200": map[string]any{"description": "The document", "content": map[string]any{"application/json": map[string]any{"schema": ref}}}, "304": map[string]any{"description": "Not modified"}, "404": errResp}}
			case "PATCH", "PUT":
				item[map[string]string{"PATCH": "patch", "PUT": "put"}[m]] = map[string]any{"summary": m + " a " + r.ItemTitle, "security": sec(r.WriteScope()), "parameters": []any{ifMatch},
					"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}},
					"responses":   map[string]any{"200": map[string]any{"description": "Updated"}, "404": errResp, "412": errResp, "422": errResp, "428": errResp}}
			case "DELETE":
				item["delete"] = map[string]any{"summary": "Delete a " + r.ItemTitle, "security": sec(r.WriteScope()), "parameters": []any{ifMatch},
					"responses": map[string]any{"204": map[string]any{"description": "Deleted"}, "404": errResp, "412": errResp, "428": errResp}}
			}
		}
		paths["/"+r.URL] = coll
		paths["/"+r.URL+"/{id}"] = item
	}
	return map[string]any{
		"openapi":    "3.1.0",
		"info":       map[string]any{"title": "Gatehouse API", "version": "1"},
		"servers":    []any{map[string]any{"url": publicURL + Prefix}},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
	}
}
