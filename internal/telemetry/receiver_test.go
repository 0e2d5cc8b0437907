package telemetry_test

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// receiver is an OTLP/HTTP trace receiver (protobuf at /v1/traces), as a
// collector listens on port 4318, keeping every span it is sent.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []span
}

// span is a received span with its resource's service.name.
type span struct {
	service string
	*tracepb.Span
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("receiver: not an OTLP protobuf trace export: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			svc := attr(rs.GetResource().GetAttributes(), "service.name")
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					rc.got = append(rc.got, span{svc, s})
				}
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})
	rc.srv = httptest.NewServer(mux)
	t.Cleanup(rc.srv.Close)
	return rc
}

// spans returns the spans received so far.
func (rc *receiver) spans() []span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]span(nil), rc.got...)
}

// attr is the string value of the attribute key in kvs, or "".
func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			v := kv.GetValue()
			if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
				return s.StringValue
			}
			if i, ok := v.GetValue().(*commonpb.AnyValue_IntValue); ok {
				return strconv.FormatInt(i.IntValue, 10)
			}
			return v.String()
		}
	}
	return ""
}

func hexID(b []byte) string { return hex.EncodeToString(b) }
