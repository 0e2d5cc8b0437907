package resource

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

//go:embed default.yaml
var defaultFile []byte

// Set is a loaded resource file.
type Set struct {
	Resources    []*Resource // ordered by name
	CORS         CORS
	RateLimit    map[string]RateLimit // by HTTP method; missing: unlimited
	MaxBodyBytes int64
	QueryLimits  QueryLimits
	// Wire are Eve's global settings of the wire format.
	Wire Wire
}

// Wire are Eve's global settings that shape requests and answers.
type Wire struct {
	// DateFormat is Eve's DATE_FORMAT: "rfc1123" (empty: the default,
	// "Tue, 01 Dec 2026 10:00:00 GMT") or "rfc3339"; dates are read in
	// either form.
	DateFormat string `yaml:"date_format"`
	// AllowOverrideHTTPMethod is Eve's ALLOW_OVERRIDE_HTTP_METHOD: a POST
	// with X-HTTP-Method-Override is served as that method.
	AllowOverrideHTTPMethod bool `yaml:"allow_override_http_method"`
	// UpsertOnPut is Eve's UPSERT_ON_PUT (nil: true): a PUT to a missing
	// id creates the document.
	UpsertOnPut *bool `yaml:"upsert_on_put"`
	// AllowUnknown, HATEOAS and BandwidthSaver are Eve's ALLOW_UNKNOWN,
	// HATEOAS and BANDWIDTH_SAVER: the defaults of the resource settings
	// of the same names (settings.go).
	AllowUnknown   *bool `yaml:"allow_unknown"`
	HATEOAS        *bool `yaml:"hateoas"`
	BandwidthSaver *bool `yaml:"bandwidth_saver"`
	// SoftDelete is Eve's SOFT_DELETE: the default of the resources'
	// soft_delete (state.go).
	SoftDelete bool `yaml:"soft_delete"`
}

// Cache is a resource's Eve cache_control and cache_expires: the
// Cache-Control and Expires (seconds from now) of its GET answers.
type Cache struct {
	Control string `yaml:"cache_control"`
	Expires int    `yaml:"cache_expires"`
}

// QueryLimits bound the database work of one principal: the client and
// user of a token (its client_id and sub), or the client network for public
// methods. They keep one caller from holding the connections every other
// caller needs.
type QueryLimits struct {
	// Concurrency is how many of a principal's requests may query the
	// database at once.
	Concurrency int
	// Wait is how long a request beyond Concurrency waits for a turn before
	// it answers 429 (0: it answers at once).
	Wait time.Duration
	// Timeout is the budget of each database query; a query that exceeds
	// it is cancelled and the request answers 503.
	Timeout time.Duration
}

// The query limits of a resource file that sets none. The timeout leaves
// room for a list's two queries (the page and its count) and a wait within
// the request deadline (--request-timeout, 10 s).
const (
	DefaultConcurrency  = 4
	DefaultQueryWait    = time.Second
	DefaultQueryTimeout = 3 * time.Second
)

// CORS is Eve's X_DOMAINS, X_HEADERS, X_EXPOSE_HEADERS and X_MAX_AGE.
type CORS struct {
	AllowedOrigins []string `yaml:"allowed_origins"`
	AllowedHeaders []string `yaml:"allowed_headers"`
	ExposeHeaders  []string `yaml:"expose_headers"`
	MaxAge         int      `yaml:"max_age"`
}

// RateLimit allows Requests per Window for one client and user.
type RateLimit struct {
	Requests int           `yaml:"requests"`
	Window   time.Duration `yaml:"window"`
}

// Pagination is Eve's PAGINATION_DEFAULT and PAGINATION_LIMIT.
type Pagination struct {
	Default int `yaml:"default"`
	Limit   int `yaml:"limit"`
}

// Resource is one declared resource.
type Resource struct {
	Name              string
	URL               string
	ItemTitle         string
	ResourceMethods   []string
	ItemMethods       []string
	PublicMethods     []string
	PublicItemMethods []string
	// OwnerField is the document field holding the owner's sub (Eve's
	// auth_field). Empty: documents are shared by every caller.
	OwnerField  string
	Unique      []string
	DefaultSort string
	Cache       Cache
	Pagination  Pagination
	// Fields are the top-level schema properties queries may name.
	Fields []docquery.Field
	// Indexes are the compound indexes, ordered by name.
	Indexes []docstore.Index
	// Defaults are the top-level properties' "default" values.
	Defaults map[string]any
	// Schema validates documents; SchemaDoc is its JSON form (for OpenAPI).
	Schema    *jsonschema.Schema
	SchemaDoc map[string]any
	// ReadOnly are the properties clients may not write (Eve's readonly,
	// JSON Schema's readOnly), dotted for fields of nested objects; sorted.
	ReadOnly []string
	// Relations are an Eve schema's data_relation rules (eveschema.go).
	Relations []Relation
	// Settings are Eve's other resource settings (settings.go).
	Settings
	// State are the soft_delete and versioning settings (state.go).
	State
}

type fileResource struct {
	URL               string          `yaml:"url"`
	ItemTitle         string          `yaml:"item_title"`
	ResourceMethods   []string        `yaml:"resource_methods"`
	ItemMethods       []string        `yaml:"item_methods"`
	PublicMethods     []string        `yaml:"public_methods"`
	PublicItemMethods []string        `yaml:"public_item_methods"`
	OwnerField        string          `yaml:"owner_field"`
	Unique            []string        `yaml:"unique"`
	DefaultSort       string          `yaml:"default_sort"`
	Pagination        *filePagination `yaml:"pagination"`
	Indexes           *[]string       `yaml:"indexes"`
	// CompoundIndexes are Eve's mongo_indexes: name → fields, "-field"
	// for a descending key.
	CompoundIndexes map[string][]string `yaml:"compound_indexes"`
	// Eve's settings of settings.go; auth_field and mongo_indexes are
	// Eve's names for owner_field and compound_indexes.
	AuthField        string           `yaml:"auth_field"`
	MongoIndexes     map[string][]any `yaml:"mongo_indexes"`
	AdditionalLookup *fileLookup      `yaml:"additional_lookup"`
	Datasource       *fileDatasource  `yaml:"datasource"`
	AllowUnknown     *bool            `yaml:"allow_unknown"`
	ItemURL          string           `yaml:"item_url"`
	ResourceTitle    string           `yaml:"resource_title"`
	HATEOAS          *bool            `yaml:"hateoas"`
	BandwidthSaver   *bool            `yaml:"bandwidth_saver"`
	Embedding        *bool            `yaml:"embedding"`
	SoftDelete       *bool            `yaml:"soft_delete"`
	Versioning       bool             `yaml:"versioning"`
	Cache            Cache            `yaml:",inline"`
	Schema           map[string]any   `yaml:"schema"`
}

type file struct {
	CORS         CORS                    `yaml:"cors"`
	RateLimit    map[string]RateLimit    `yaml:"rate_limit"`
	MaxBodyBytes int64                   `yaml:"max_body_bytes"`
	QueryLimits  fileQueryLimits         `yaml:"query_limits"`
	Wire         Wire                    `yaml:",inline"`
	Resources    map[string]fileResource `yaml:"resources"`
}

// fileQueryLimits are the query_limits setting; a missing key keeps its
// default.
type fileQueryLimits struct {
	Concurrency *int           `yaml:"concurrency"`
	Wait        *time.Duration `yaml:"wait"`
	Timeout     *time.Duration `yaml:"timeout"`
}

// Default returns the built-in resource file (a "todos" resource).
func Default() (*Set, error) { return Parse(defaultFile, "built-in resources") }

// DefaultYAML returns the text of the built-in resource file.
func DefaultYAML() []byte { return bytes.Clone(defaultFile) }

// LoadResources reads the resource file at path; an empty path gives the
// built-in one.
func LoadResources(path string) (*Set, error) {
	if path == "" {
		return Default()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resource file: %w", err)
	}
	return Parse(b, path)
}

var (
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,23}$`)
	urlRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	reserved = []string{"openapi.json"}
	methods  = []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete}
)

// Parse reads a resource file's content; name is used in error messages.
func Parse(b []byte, name string) (*Set, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, syntaxError(b, name, err)
	}
	loc := locator{name: name, root: &root}
	keys := &keyChecker{loc: loc, seen: map[*yaml.Node]bool{}}
	if err := keys.check(&root, reflect.TypeFor[file](), nil); err != nil {
		return nil, err
	}
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, keys.decodeError(err)
	}
	// fail reports a mistake at the key at path.
	fail := func(path []string, format string, args ...any) error {
		return loc.errorf(path, format, args...)
	}
	s := &Set{CORS: f.CORS, RateLimit: map[string]RateLimit{}, MaxBodyBytes: f.MaxBodyBytes}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 1 << 20
	}
	if s.MaxBodyBytes < 0 {
		return nil, fail([]string{"max_body_bytes"}, "max_body_bytes must be positive")
	}
	if s.CORS.MaxAge == 0 {
		s.CORS.MaxAge = 21600
	}
	for i, o := range s.CORS.AllowedOrigins {
		if o != "*" && !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://") {
			return nil, fail([]string{"cors", "allowed_origins", strconv.Itoa(i)}, "cors.allowed_origins: %q is not an origin (scheme://host[:port]) or *", o)
		}
	}
	for key, l := range f.RateLimit {
		m := strings.ToUpper(key)
		if !slices.Contains(methods, m) {
			return nil, fail([]string{"rate_limit", key}, "rate_limit: unknown method %q; the methods are %s", m, strings.Join(methods, ", "))
		}
		if l.Requests < 1 || l.Window <= 0 {
			return nil, fail([]string{"rate_limit", key}, "rate_limit.%s: requests and window must be positive", m)
		}
		s.RateLimit[m] = l
	}
	ql, err := queryLimits(f.QueryLimits)
	if err != nil {
		return nil, fail([]string{"query_limits"}, "query_limits: %v", err)
	}
	s.QueryLimits = ql
	s.Wire = f.Wire
	if d := s.Wire.DateFormat; d != "" && d != "rfc1123" && d != "rfc3339" {
		return nil, fail([]string{"date_format"}, "date_format: %q is not rfc1123 or rfc3339", d)
	}
	if len(f.Resources) == 0 {
		return nil, fail([]string{"resources"}, "no resources declared")
	}
	urls := map[string]string{}
	for rn, fr := range f.Resources {
		r, err := buildResource(rn, fr, f.Wire)
		if err != nil {
			return nil, loc.resourceError(rn, err)
		}
		if other, ok := urls[r.URL]; ok {
			return nil, fail([]string{"resources", rn, "url"}, "resources %q and %q share the URL %q", other, rn, r.URL)
		}
		urls[r.URL] = rn
		s.Resources = append(s.Resources, r)
	}
	sort.Slice(s.Resources, func(i, j int) bool { return s.Resources[i].Name < s.Resources[j].Name })
	if err := checkRelations(s.Resources); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

func queryLimits(f fileQueryLimits) (QueryLimits, error) {
	l := DefaultQueryLimits()
	if f.Concurrency != nil {
		l.Concurrency = *f.Concurrency
	}
	if f.Wait != nil {
		l.Wait = *f.Wait
	}
	if f.Timeout != nil {
		l.Timeout = *f.Timeout
	}
	return l, l.Check()
}

// DefaultQueryLimits are the query limits of a resource file that sets
// none.
func DefaultQueryLimits() QueryLimits {
	return QueryLimits{Concurrency: DefaultConcurrency, Wait: DefaultQueryWait, Timeout: DefaultQueryTimeout}
}

// Check reports what is wrong with l, if anything.
func (l QueryLimits) Check() error {
	switch {
	case l.Concurrency < 1:
		return fmt.Errorf("concurrency must be at least 1, got %d", l.Concurrency)
	case l.Wait < 0:
		return fmt.Errorf("wait must not be negative, got %s", l.Wait)
	case l.Timeout <= 0:
		return fmt.Errorf("timeout must be positive, got %s", l.Timeout)
	}
	return nil
}

func methodList(field string, in []string, def []string, allowed []string) ([]string, error) {
	if in == nil {
		return def, nil
	}
	var out []string
	for _, m := range in {
		m = strings.ToUpper(m)
		if !slices.Contains(allowed, m) {
			return nil, fmt.Errorf("%s: method %q is not one of %v", field, m, allowed)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

func buildResource(name string, fr fileResource, wire Wire) (*Resource, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("the name must match %s", nameRE)
	}
	if err := fr.resolveAliases(); err != nil {
		return nil, err
	}
	r := &Resource{Name: name, URL: fr.URL, ItemTitle: fr.ItemTitle, OwnerField: fr.OwnerField, Unique: fr.Unique, DefaultSort: fr.DefaultSort}
	if r.URL == "" {
		r.URL = name
	}
	if !urlRE.MatchString(r.URL) || slices.Contains(reserved, r.URL) {
		return nil, at(fmt.Errorf("url %q must match %s and not be one of %v", r.URL, urlRE, reserved), "url")
	}
	if r.ItemTitle == "" {
		r.ItemTitle = strings.TrimSuffix(name, "s")
	}
	var err error
	if r.ResourceMethods, err = methodList("resource_methods", fr.ResourceMethods, []string{"GET"}, []string{"GET", "POST"}); err != nil {
		return nil, at(err, "resource_methods")
	}
	if r.ItemMethods, err = methodList("item_methods", fr.ItemMethods, []string{"GET"}, []string{"GET", "PATCH", "PUT", "DELETE"}); err != nil {
		return nil, at(err, "item_methods")
	}
	if r.PublicMethods, err = methodList("public_methods", fr.PublicMethods, nil, r.ResourceMethods); err != nil {
		return nil, at(err, "public_methods")
	}
	if r.PublicItemMethods, err = methodList("public_item_methods", fr.PublicItemMethods, nil, r.ItemMethods); err != nil {
		return nil, at(err, "public_item_methods")
	}
	if r.OwnerField != "" && (len(r.PublicMethods) > 0 || len(r.PublicItemMethods) > 0) {
		return nil, at(errors.New("public methods need a resource without owner_field: an anonymous caller owns nothing"), "owner_field")
	}
	r.Cache = fr.Cache
	if r.Cache.Expires < 0 {
		return nil, at(errors.New("cache_expires must not be negative"), "cache_expires")
	}
	r.Pagination = Pagination{Default: 25, Limit: 50}
	if fr.Pagination != nil && fr.Pagination.set {
		r.Pagination = fr.Pagination.Pagination
	}
	if r.Pagination.Default < 1 || r.Pagination.Limit < r.Pagination.Default {
		return nil, at(fmt.Errorf("pagination: need 1 <= default (%d) <= limit (%d)", r.Pagination.Default, r.Pagination.Limit), "pagination")
	}
	schema, err := r.prepareSchema(fr.Schema)
	if err != nil {
		return nil, at(err, "schema")
	}
	if schema, err = r.applyAllowUnknown(schema, fr.Schema, fr.AllowUnknown, wire.AllowUnknown); err != nil {
		return nil, err
	}
	if err := r.loadSchema(schema); err != nil {
		return nil, at(err, "schema")
	}
	if r.OwnerField != "" {
		if !docquery.ValidFieldName(r.OwnerField) {
			return nil, at(fmt.Errorf("owner_field %q is not a valid field name", r.OwnerField), "owner_field")
		}
		if _, ok := r.field(r.OwnerField); ok {
			return nil, at(fmt.Errorf("owner_field %q must not be a schema property: the server sets it", r.OwnerField), "owner_field")
		}
	}
	indexed := map[string]bool{}
	if fr.Indexes == nil {
		for _, f := range r.Fields {
			indexed[f.Name] = f.Type != docquery.Array
		}
	} else {
		for _, n := range *fr.Indexes {
			f, ok := r.field(n)
			if !ok {
				return nil, at(fmt.Errorf("indexes: %q is not a schema property", n), "indexes")
			}
			if f.Type == docquery.Array {
				return nil, at(fmt.Errorf("indexes: array field %q cannot be indexed", n), "indexes")
			}
			indexed[n] = true
		}
	}
	for i := range r.Fields {
		r.Fields[i].Indexed = indexed[r.Fields[i].Name]
	}
	if r.Indexes, err = r.compoundIndexes(fr.CompoundIndexes); err != nil {
		return nil, at(err, "compound_indexes")
	}
	r.applyState(fr, wire)
	if err := docstore.CheckCollection(r.Collection()); err != nil {
		return nil, at(err, "unique")
	}
	if err := r.applySettings(fr, wire); err != nil {
		return nil, err
	}
	return r, nil
}

// compoundIndexes checks and converts the compound_indexes setting.
func (r *Resource) compoundIndexes(in map[string][]string) ([]docstore.Index, error) {
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []docstore.Index
	for _, n := range names {
		ix := docstore.Index{Name: n}
		for _, k := range in[n] {
			key := docstore.IndexKey{Field: strings.TrimPrefix(k, "-"), Desc: strings.HasPrefix(k, "-")}
			// Meta fields are left to docstore.CheckIndex.
			isMeta := slices.Contains([]string{docquery.FieldID, docquery.FieldCreated, docquery.FieldUpdated}, key.Field)
			if _, ok := r.field(key.Field); !ok && !isMeta {
				return nil, fmt.Errorf("compound_indexes.%s: %q is neither a queryable schema property nor _created or _updated", n, key.Field)
			}
			ix.Keys = append(ix.Keys, key)
		}
		if err := docstore.CheckIndex(r.Fields, ix); err != nil {
			return nil, fmt.Errorf("compound_indexes.%s: %w", n, err)
		}
		out = append(out, ix)
	}
	return out, nil
}

func (r *Resource) field(name string) (docquery.Field, bool) {
	for _, f := range r.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return docquery.Field{}, false
}

// Field returns a queryable field (a schema property or a meta field).
func (r *Resource) Field(name string) (docquery.Field, bool) {
	switch name {
	case docquery.FieldID:
		return docquery.Field{Name: name, Type: docquery.String}, true
	case docquery.FieldCreated, docquery.FieldUpdated:
		return docquery.Field{Name: name, Type: docquery.DateTime}, true
	}
	return r.field(name)
}

func (r *Resource) loadSchema(doc map[string]any) error {
	if doc == nil {
		return errors.New("schema is required")
	}
	// YAML gives Go values JSON Schema does not know (int, map[string]any
	// from YAML maps); a round trip through JSON normalises them.
	js, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if err := json.Unmarshal(js, &r.SchemaDoc); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if t, _ := r.SchemaDoc["type"].(string); t != "object" {
		return errors.New(`schema: the top-level type must be "object"`)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	// No remote references: a resource file cannot make the server fetch URLs.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	loc := "resource://" + r.Name + ".json"
	if err := c.AddResource(loc, inst); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if r.Schema, err = c.Compile(loc); err != nil {
		return schemaError(err, r.SchemaDoc)
	}
	props, _ := r.SchemaDoc["properties"].(map[string]any)
	r.Defaults = map[string]any{}
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p, _ := props[n].(map[string]any)
		if !docquery.ValidFieldName(n) {
			return at(fmt.Errorf("schema: property %q: names must be letters, digits and _ (at most 32, not starting with _)", n), "schema", "properties", n)
		}
		if d, ok := p["default"]; ok {
			r.Defaults[n] = d
		}
		t, ok := fieldType(p)
		if !ok {
			continue // objects and untyped properties cannot be queried
		}
		r.Fields = append(r.Fields, docquery.Field{Name: n, Type: t})
	}
	return nil
}

func fieldType(p map[string]any) (docquery.Type, bool) {
	t, _ := p["type"].(string)
	if list, ok := p["type"].([]any); ok {
		// ["string","null"] and the like.
		for _, x := range list {
			if s, _ := x.(string); s != "null" {
				if t != "" {
					return 0, false
				}
				t = s
			}
		}
	}
	switch t {
	case "string":
		if f, _ := p["format"].(string); f == "date-time" {
			return docquery.DateTime, true
		}
		return docquery.String, true
	case "number", "integer":
		return docquery.Number, true
	case "boolean":
		return docquery.Boolean, true
	case "array":
		return docquery.Array, true
	}
	return 0, false
}

// Collection is the document-store collection of r.
func (r *Resource) Collection() docstore.Collection {
	ix := slices.Clone(r.Indexes)
	for i := range ix {
		ix[i].Keys = slices.Clone(ix[i].Keys)
	}
	return docstore.Collection{Name: r.Name, Fields: slices.Clone(r.Fields), Unique: slices.Clone(r.Unique), Indexes: ix,
		SoftDelete: r.SoftDelete, Versioning: r.Versioning}
}

// Properties are the names of the schema's top-level properties, sorted:
// what a projection may name, objects and arrays included (Fields are only
// those queries may name).
func (r *Resource) Properties() []string {
	props, _ := r.SchemaDoc["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// ReadScope and WriteScope are the scopes a token needs: GET needs
// <resource>:read, writes need <resource>:write.
func (r *Resource) ReadScope() string  { return r.Name + ":read" }
func (r *Resource) WriteScope() string { return r.Name + ":write" }

// Scopes returns every scope the resources define, for the authorization
// server's list of supported scopes.
func (s *Set) Scopes() []string {
	var out []string
	for _, r := range s.Resources {
		out = append(out, r.ReadScope(), r.WriteScope())
	}
	return out
}

// ByURL returns the resource served at url.
func (s *Set) ByURL(url string) (*Resource, bool) {
	for _, r := range s.Resources {
		if r.URL == url {
			return r, true
		}
	}
	return nil, false
}
