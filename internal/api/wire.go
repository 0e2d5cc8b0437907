package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// Eve's wire format: its date format, document ids, method override,
// validation messages and cache headers.

// formatDate renders t in the resource file's date_format: Eve's RFC 1123
// ("Tue, 01 Dec 2026 10:00:00 GMT") by default, or RFC 3339 in UTC with
// milliseconds, the form date-time fields are stored in.
func (s *Server) formatDate(t time.Time) string {
	if s.cfg.Resources.Wire.DateFormat == "rfc3339" {
		return docquery.NormalizeTime(t)
	}
	return httpDate(t)
}

// renderDate renders a stored date-time field's value in the date format;
// a value that is not a date string is returned as it is.
func (s *Server) renderDate(raw json.RawMessage) json.RawMessage {
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return raw
	}
	t, err := query.ParseTime(str)
	if err != nil {
		return raw
	}
	out, err := json.Marshal(s.formatDate(t))
	if err != nil {
		return raw
	}
	return out
}

// validID reports whether id has the shape of the ids the store makes
// (docstore.NewID): 24 lower-case hexadecimal digits, Eve's ITEM_URL for
// ObjectIds.
func validID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// overridable are the methods X-HTTP-Method-Override may name.
var overridable = []string{"GET", "PATCH", "PUT", "DELETE"}

// effectiveMethod returns the method a request is served as: with the
// resource file's allow_override_http_method, a POST's
// X-HTTP-Method-Override (Eve's ALLOW_OVERRIDE_HTTP_METHOD). The token and
// its DPoP proof are still checked against the request's own method.
func (s *Server) effectiveMethod(r *http.Request) (string, error) {
	o := strings.ToUpper(strings.TrimSpace(r.Header.Get("X-HTTP-Method-Override")))
	if o == "" || r.Method != http.MethodPost || !s.cfg.Resources.Wire.AllowOverrideHTTPMethod {
		return r.Method, nil
	}
	if !slices.Contains(overridable, o) {
		return "", fmt.Errorf("X-HTTP-Method-Override names %q, not one of %s", o, strings.Join(overridable, ", "))
	}
	return o, nil
}

// upsertOnPut is the resource file's upsert_on_put (Eve's UPSERT_ON_PUT,
// true by default).
func (s *Server) upsertOnPut() bool {
	u := s.cfg.Resources.Wire.UpsertOnPut
	return u == nil || *u
}

// setCache sets the Cache-Control and Expires of a GET answer from the
// resource's cache_control and cache_expires; without them the answer
// keeps encodeJSON's no-store.
func (h *handler) setCache(w http.ResponseWriter) {
	c := h.res.Cache
	if c.Control != "" {
		w.Header().Set("Cache-Control", c.Control)
	}
	if c.Expires > 0 {
		w.Header().Set("Expires", httpDate(h.s.cfg.Now().Add(time.Duration(c.Expires)*time.Second)))
	}
}

// issues are Eve's _issues: field → message, nested objects for the
// fields of arrays and objects ({"tags": {"0": "max length is 50"}}).
type issues map[string]any

// add records msg at path unless an issue is recorded there (or at a
// prefix of it) already.
func (is issues) add(path []string, msg string) {
	if len(path) == 0 {
		path = []string{"_schema"}
	}
	m := is
	for _, p := range path[:len(path)-1] {
		switch v := m[p].(type) {
		case nil:
			sub := issues{}
			m[p] = sub
			m = sub
		case issues:
			m = v
		default:
			return // the enclosing value has an issue of its own
		}
	}
	last := path[len(path)-1]
	if _, ok := m[last]; !ok {
		m[last] = msg
	}
}

// cerberusType names a JSON Schema type as Cerberus (Eve's validator) does.
func cerberusType(t string) string {
	switch t {
	case "array":
		return "list"
	case "object":
		return "dict"
	}
	return t
}

// cerberusMessage words a validation error as Cerberus does, for the
// errors a client might match; others keep the validator's wording.
func cerberusMessage(k any, fallback string) string {
	switch k := k.(type) {
	case *kind.Type:
		if k.Got == "null" {
			return "null value not allowed"
		}
		var want []string
		for _, t := range k.Want {
			if t != "null" {
				want = append(want, cerberusType(t))
			}
		}
		return "must be of " + strings.Join(want, " or ") + " type"
	case *kind.Format:
		if k.Want == "date-time" {
			return "must be of datetime type"
		}
	case *kind.MinLength:
		return "min length is " + strconv.Itoa(k.Want)
	case *kind.MaxLength:
		return "max length is " + strconv.Itoa(k.Want)
	case *kind.MinItems:
		return "min length is " + strconv.Itoa(k.Want)
	case *kind.MaxItems:
		return "max length is " + strconv.Itoa(k.Want)
	case *kind.Enum:
		return fmt.Sprintf("unallowed value %v", k.Got)
	case *kind.Const:
		return fmt.Sprintf("unallowed value %v", k.Got)
	case *kind.Pattern:
		return "value does not match regex '" + k.Want + "'"
	case *kind.Minimum:
		return "min value is " + ratString(k.Want.RatString())
	case *kind.Maximum:
		return "max value is " + ratString(k.Want.RatString())
	}
	return fallback
}

// ratString writes a fraction such as 1/2 as a decimal.
func ratString(s string) string {
	if n, d, ok := strings.Cut(s, "/"); ok {
		a, err1 := strconv.ParseFloat(n, 64)
		b, err2 := strconv.ParseFloat(d, 64)
		if err1 == nil && err2 == nil && b != 0 {
			return strconv.FormatFloat(a/b, 'g', -1, 64)
		}
	}
	return s
}
