package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// Eve's resource settings that shape a resource's URLs and answers beyond
// its schema and methods: additional_lookup, datasource, allow_unknown,
// item_url, resource_title, hateoas, bandwidth_saver, pagination: false,
// embedding, and the aliases auth_field (owner_field) and mongo_indexes
// (compound_indexes).

// Settings are a resource's Eve settings. Their zero value is Eve's
// default, so a Resource built in code behaves as Eve's.
type Settings struct {
	// ResourceTitle is the collection's title in _links and on the home
	// endpoint (empty: the URL, as Eve).
	ResourceTitle string
	// ItemURL matches the whole item segment of an item URL (nil: the
	// store's ids, 24 lower-case hexadecimal digits, Eve's default
	// regex("[a-f0-9]{24}")). A segment it does not match is no item URL.
	ItemURL *regexp.Regexp
	// Lookup is Eve's additional_lookup: a second, read-only item URL by a
	// unique field.
	Lookup *Lookup
	// Filter is datasource.filter: ANDed with every read's where, it
	// bounds the documents the resource shows (nil: all).
	Filter docquery.Expr
	// Projection is datasource.projection: the fields clients may see
	// (zero: all). A client's projection only narrows it.
	Projection query.Projection
	// NoHATEOAS is hateoas: false: no _links in any answer.
	NoHATEOAS bool
	// NoBandwidthSaver is bandwidth_saver: false: the answer to a POST,
	// PATCH or PUT has the whole document, not only its meta fields.
	NoBandwidthSaver bool
	// NoPagination is pagination: false: a list answers every match (up to
	// the API's hard cap) without _meta.
	NoPagination bool
	// NoEmbedding is embedding: false: the embedded parameter is refused.
	NoEmbedding bool
	// AllowUnknown is the effective allow_unknown: documents may hold
	// fields the schema does not declare, which are stored as sent.
	AllowUnknown bool
}

// Lookup is Eve's additional_lookup: /api/<url>/<value> reads the document
// whose Field equals value, for values that Match matches whole.
type Lookup struct {
	Field string
	Match *regexp.Regexp
	// Type is the field's type: docquery.String or docquery.Number.
	Type docquery.Type
}

// Title is the collection's title: resource_title, or the URL.
func (r *Resource) Title() string {
	if r.ResourceTitle != "" {
		return r.ResourceTitle
	}
	return r.URL
}

// Route tells what an item segment of r's URLs names: an item id
// (lookup false), a value of the additional lookup (lookup true), or
// nothing (ok false). An id wins when both match, as the item URL is
// Eve's first route. Without item_url, a segment that is neither goes
// to the item URL, where no document has it.
func (r *Resource) Route(seg string) (lookup, ok bool) {
	switch {
	case r.ItemURL == nil && isStoreID(seg), r.ItemURL != nil && r.ItemURL.MatchString(seg):
		return false, true
	case r.Lookup != nil && r.Lookup.Match.MatchString(seg):
		return true, true
	}
	return false, r.ItemURL == nil
}

// isStoreID reports whether s has the shape of the store's ids
// (docstore.NewID): 24 lower-case hexadecimal digits.
func isStoreID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// sampleIDs are ids of the store's shape an item_url must match.
var sampleIDs = []string{"0123456789abcdef01234567", "fedcba9876543210fedcba98", "000000000000000000000000", "ffffffffffffffffffffffff"}

// converterRE is a werkzeug URL converter as Eve's settings write them:
// regex("…") or regex('…').
var converterRE = regexp.MustCompile(`^\s*regex\(\s*(?:"(.*)"|'(.*)')\s*\)\s*$`)

// urlRule compiles an Eve URL rule (regex("…"), or "string": any segment)
// into a regular expression that matches a whole path segment.
func urlRule(s string) (*regexp.Regexp, error) {
	if strings.TrimSpace(s) == "string" {
		return regexp.MustCompile(`^[^/]+$`), nil
	}
	m := converterRE.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf(`%q is not a URL rule; write regex("…"), e.g. regex("[\w]+"), or string`, s)
	}
	expr := m[1] + m[2]
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, fmt.Errorf("%q is not a regular expression Go accepts: %v", expr, err)
	}
	return re, nil
}

// fileDatasource is Eve's datasource setting.
type fileDatasource struct {
	// Source is another collection to read: not supported, except the
	// resource's own name.
	Source     string         `yaml:"source"`
	Filter     map[string]any `yaml:"filter"`
	Projection map[string]any `yaml:"projection"`
	// DefaultSort is Eve's list of pairs ([[title, 1], [_updated, -1]])
	// or a sort string ("title,-_updated").
	DefaultSort any `yaml:"default_sort"`
	// Aggregation is Eve's aggregation pipeline: not supported.
	Aggregation any `yaml:"aggregation"`
}

// fileLookup is Eve's additional_lookup setting.
type fileLookup struct {
	URL   string `yaml:"url"`
	Field string `yaml:"field"`
}

// filePagination is the pagination setting: a mapping {default, limit}, or
// Eve's boolean (false: no pagination).
type filePagination struct {
	Pagination `yaml:",inline"`
	set        bool // the mapping form
	off        bool // pagination: false
}

// UnmarshalYAML reads either form.
func (p *filePagination) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var on bool
		if err := n.Decode(&on); err != nil {
			return err
		}
		p.off = !on
		return nil
	}
	if err := n.Decode(&p.Pagination); err != nil {
		return err
	}
	p.set = true
	return nil
}

// resolveAliases moves Eve's names for settings Gatehouse names otherwise
// to Gatehouse's: auth_field to owner_field, mongo_indexes to
// compound_indexes, datasource.default_sort to default_sort.
func (fr *fileResource) resolveAliases() error {
	if fr.AuthField != "" {
		if fr.OwnerField != "" {
			return at(errors.New("auth_field is Eve's name for owner_field: set one of them"), "auth_field")
		}
		fr.OwnerField = fr.AuthField
	}
	if fr.MongoIndexes != nil {
		if fr.CompoundIndexes != nil {
			return at(errors.New("mongo_indexes is Eve's name for compound_indexes: set one of them"), "mongo_indexes")
		}
		ix, err := mongoIndexes(fr.MongoIndexes)
		if err != nil {
			return at(err, "mongo_indexes")
		}
		fr.CompoundIndexes = ix
	}
	if ds := fr.Datasource; ds != nil && ds.DefaultSort != nil {
		if fr.DefaultSort != "" {
			return at(errors.New("datasource.default_sort and default_sort: set one of them"), "datasource", "default_sort")
		}
		s, err := sortString(ds.DefaultSort)
		if err != nil {
			return at(fmt.Errorf("datasource.default_sort: %w", err), "datasource", "default_sort")
		}
		fr.DefaultSort = s
	}
	return nil
}

// mongoIndexes converts Eve's mongo_indexes (name → [[field, 1|-1], …],
// or the compound_indexes form "field"/"-field") to compound_indexes.
func mongoIndexes(in map[string][]any) (map[string][]string, error) {
	out := map[string][]string{}
	for _, name := range sortedKeys(in) {
		var keys []string
		for _, k := range in[name] {
			switch x := k.(type) {
			case string:
				keys = append(keys, x)
			case []any:
				f, dir, err := sortPair(x)
				if err != nil {
					return nil, fmt.Errorf("mongo_indexes.%s: %w (index options are not supported)", name, err)
				}
				keys = append(keys, map[bool]string{true: "-", false: ""}[dir < 0]+f)
			default:
				return nil, fmt.Errorf("mongo_indexes.%s: want [field, 1] or [field, -1], not %s", name, describe(k))
			}
		}
		out[name] = keys
	}
	return out, nil
}

// sortPair reads one of Eve's (field, direction) pairs.
func sortPair(p []any) (string, int, error) {
	if len(p) != 2 {
		return "", 0, fmt.Errorf("want [field, 1] or [field, -1], not %s", describe(p))
	}
	f, ok := p[0].(string)
	dir, isInt := p[1].(int)
	if !ok || !isInt || (dir != 1 && dir != -1) {
		return "", 0, fmt.Errorf("want [field, 1] or [field, -1], not %s", describe(p))
	}
	return f, dir, nil
}

// sortString converts Eve's default_sort (a list of pairs) to a sort
// string; a string is kept as it is.
func sortString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []any:
		parts := make([]string, 0, len(x))
		for _, p := range x {
			pair, ok := p.([]any)
			if !ok {
				return "", fmt.Errorf("want a list of [field, 1] or [field, -1], not %s", describe(v))
			}
			f, dir, err := sortPair(pair)
			if err != nil {
				return "", err
			}
			if dir < 0 {
				f = "-" + f
			}
			parts = append(parts, f)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("want a list of [field, 1] or [field, -1] or a string such as -_updated, not %s", describe(v))
}

// applyAllowUnknown sets the top level of the JSON Schema js (translated
// from doc when doc is an Eve schema) to accept or refuse fields it does
// not declare. own is the resource's allow_unknown, def the file's; a
// JSON Schema that sets additionalProperties itself keeps it over the
// file's default, and must agree with the resource's.
func (r *Resource) applyAllowUnknown(js, doc map[string]any, own, def *bool) (map[string]any, error) {
	if js == nil {
		return nil, nil
	}
	v := own
	if v == nil {
		v = def
	}
	if cur, set := js["additionalProperties"]; set && !isEveSchema(doc) {
		if own != nil && cur != *own {
			return nil, at(fmt.Errorf("allow_unknown: %t disagrees with the schema's additionalProperties: set one of them", *own), "allow_unknown")
		}
		v = nil // the schema decides
		r.AllowUnknown = cur != false
	}
	if v == nil {
		if _, set := js["additionalProperties"]; !set {
			r.AllowUnknown = true // JSON Schema's default
		}
		return js, nil
	}
	out := make(map[string]any, len(js)+1)
	for k, x := range js {
		out[k] = x
	}
	if *v {
		delete(out, "additionalProperties")
	} else {
		out["additionalProperties"] = false
	}
	r.AllowUnknown = *v
	return out, nil
}

// applySettings checks and records the settings of fr that need the
// resource's fields: additional_lookup, datasource, item_url and the
// answer shape.
func (r *Resource) applySettings(fr fileResource, w Wire) error {
	r.ResourceTitle = fr.ResourceTitle
	if fr.ItemURL != "" {
		re, err := urlRule(fr.ItemURL)
		if err != nil {
			return at(fmt.Errorf("item_url: %w", err), "item_url")
		}
		for _, id := range sampleIDs {
			if !re.MatchString(id) {
				return at(fmt.Errorf("item_url: %s does not match the store's ids (24 lower-case hexadecimal digits, such as %s)", fr.ItemURL, id), "item_url")
			}
		}
		r.ItemURL = re
	}
	if l := fr.AdditionalLookup; l != nil {
		lk, err := r.lookup(*l)
		if err != nil {
			return at(fmt.Errorf("additional_lookup: %w", err), "additional_lookup")
		}
		r.Lookup = lk
	}
	if ds := fr.Datasource; ds != nil {
		if err := r.datasource(*ds); err != nil {
			return err
		}
	}
	off := func(own, def *bool) bool {
		if own != nil {
			return !*own
		}
		return def != nil && !*def
	}
	r.NoHATEOAS = off(fr.HATEOAS, w.HATEOAS)
	r.NoBandwidthSaver = off(fr.BandwidthSaver, w.BandwidthSaver)
	r.NoEmbedding = off(fr.Embedding, nil)
	r.NoPagination = fr.Pagination != nil && fr.Pagination.off
	return nil
}

// lookup checks an additional_lookup.
func (r *Resource) lookup(l fileLookup) (*Lookup, error) {
	if l.URL == "" || l.Field == "" {
		return nil, errors.New(`needs url and field, e.g. {url: 'regex("[\w]+")', field: username}`)
	}
	re, err := urlRule(l.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	f, ok := r.field(l.Field)
	if !ok || (f.Type != docquery.String && f.Type != docquery.Number) {
		return nil, fmt.Errorf("field %q must be a string or number property of the schema", l.Field)
	}
	if !slices.Contains(r.Unique, l.Field) {
		return nil, fmt.Errorf("field %q must be unique (in unique, or the unique rule of an Eve schema): a lookup reads one document", l.Field)
	}
	return &Lookup{Field: l.Field, Match: re, Type: f.Type}, nil
}

// datasource checks datasource's source, filter and projection.
func (r *Resource) datasource(ds fileDatasource) error {
	if ds.Source != "" && ds.Source != r.Name {
		return at(fmt.Errorf("datasource.source: reading another resource's collection (%q) is not supported; declare its fields in this resource", ds.Source), "datasource", "source")
	}
	if ds.Aggregation != nil {
		return at(errors.New("datasource.aggregation: aggregation endpoints are not supported"), "datasource", "aggregation")
	}
	if ds.Filter != nil {
		b, err := json.Marshal(ds.Filter)
		if err != nil {
			return at(fmt.Errorf("datasource.filter: %w", err), "datasource", "filter")
		}
		if r.Filter, err = query.ParseWhere(string(b), r); err != nil {
			return at(fmt.Errorf("datasource.filter: %w", err), "datasource", "filter")
		}
	}
	if ds.Projection != nil {
		b, err := json.Marshal(ds.Projection)
		if err != nil {
			return at(fmt.Errorf("datasource.projection: %w", err), "datasource", "projection")
		}
		if r.Projection, err = query.ParseProjection(string(b), r, r.OwnerField); err != nil {
			return at(fmt.Errorf("datasource.projection: %w", err), "datasource", "projection")
		}
	}
	if r.DefaultSort != "" {
		if _, err := query.ParseSort(r.DefaultSort, r); err != nil {
			return at(fmt.Errorf("default_sort: %w", err), "default_sort")
		}
	}
	return nil
}
