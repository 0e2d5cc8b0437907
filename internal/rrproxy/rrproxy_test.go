package rrproxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/rrproxy"
)

// backends starts n test servers that answer "i host xff pin" (i their
// index plus offset, pin the X-Pin header they received).
func backends(t *testing.T, n, offset int) []string {
	t.Helper()
	var urls []string
	for i := range n {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%d %s %s %q", i+offset, r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Pin"))
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	return urls
}

// reply is one answer of the proxy.
type reply struct {
	status   int
	fields   []string // of the body
	instance string   // the X-Instance header
}

// front serves p on a loopback port and returns a function that sends a
// GET through it with the given headers.
func front(t *testing.T, p *rrproxy.Proxy) (string, func(h ...string) reply) {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	t.Cleanup(p.Close)
	return srv.URL, func(h ...string) reply {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return reply{status: res.StatusCode, fields: strings.Fields(string(b)), instance: res.Header.Get("X-Instance")}
	}
}

func TestRoundRobin(t *testing.T) {
	p := rrproxy.New(3, rrproxy.Options{IdleConns: 4})
	url, get := front(t, p)

	if r := get(); r.status != http.StatusServiceUnavailable {
		t.Fatalf("without backends: %d %q", r.status, r.fields)
	}
	for _, bad := range [][]string{backends(t, 2, 0), {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}} {
		if err := p.SetBackends(bad); err == nil {
			t.Fatalf("SetBackends(%q) accepted", bad)
		}
	}
	if err := p.SetBackends(backends(t, 3, 0)); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(url, "http://")
	var order []string
	for range 9 {
		r := get()
		if r.status != http.StatusOK || len(r.fields) != 4 {
			t.Fatalf("%d %q", r.status, r.fields)
		}
		if r.fields[1] != host || r.fields[2] != "127.0.0.1" {
			t.Errorf("backend saw Host %q and X-Forwarded-For %q, want the public host %q and 127.0.0.1", r.fields[1], r.fields[2], host)
		}
		if r.instance != "" {
			t.Errorf("X-Instance %q without Options.InstanceHeader", r.instance)
		}
		order = append(order, r.fields[0])
	}
	if want := []string{"0", "1", "2", "0", "1", "2", "0", "1", "2"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}

	// New backends (instances started again) take over; the counts go on.
	if err := p.SetBackends(backends(t, 3, 10)); err != nil {
		t.Fatal(err)
	}
	order = order[:0]
	for range 3 {
		order = append(order, get().fields[0])
	}
	slices.Sort(order)
	if want := []string{"10", "11", "12"}; !slices.Equal(order, want) {
		t.Errorf("after SetBackends: %v, want %v", order, want)
	}
	if got, want := p.Counts(), []int64{4, 4, 4}; !slices.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}

	// Without SkipDown a backend that is gone answers 502 every time its
	// turn comes, not a hang or a retry elsewhere.
	bs := backends(t, 3, 0)
	bs[1] = deadURL(t)
	if err := p.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for range 6 {
		statuses = append(statuses, get().status)
	}
	if want := []int{200, 502, 200, 200, 502, 200}; !slices.Equal(statuses, want) {
		t.Errorf("one dead backend: %v, want %v", statuses, want)
	}
}

// deadURL returns the URL of a loopback port nobody listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return "http://" + l.Addr().String()
}

// TestPinAndInstance: the pin header chooses the backend and is not
// forwarded, a pin that names no backend is a 400, and the instance header
// names the backend that served.
func TestPinAndInstance(t *testing.T) {
	p := rrproxy.New(3, rrproxy.Options{PinHeader: "X-Pin", InstanceHeader: "X-Instance"})
	_, get := front(t, p)
	if err := p.SetBackends(backends(t, 3, 0)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pin      string
		status   int
		backend  string // the first field of the body
		instance string
	}{
		{"", 200, "0", "1"},
		{"3", 200, "2", "3"},
		{"3", 200, "2", "3"},
		{"1", 200, "0", "1"},
		{"", 200, "1", "2"}, // pinned requests leave the turn alone
		{"0", 400, "", ""},
		{"4", 400, "", ""},
		{"two", 400, "", ""},
	}
	for _, tt := range tests {
		var h []string
		if tt.pin != "" {
			h = []string{"X-Pin", tt.pin}
		}
		r := get(h...)
		if r.status != tt.status || r.instance != tt.instance {
			t.Errorf("pin %q: %d, instance %q; want %d, %q", tt.pin, r.status, r.instance, tt.status, tt.instance)
			continue
		}
		if tt.status != 200 {
			if !strings.Contains(strings.Join(r.fields, " "), "names no backend") {
				t.Errorf("pin %q: %q does not say why", tt.pin, r.fields)
			}
			continue
		}
		if r.fields[0] != tt.backend || r.fields[3] != `""` {
			t.Errorf("pin %q: backend %s saw X-Pin %s; want backend %s and no X-Pin", tt.pin, r.fields[0], r.fields[3], tt.backend)
		}
	}
	if got, want := p.Counts(), []int64{2, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

// TestSkipDown: with SkipDown a backend whose request failed is passed over
// until the time is up (a pinned request still reaches it), SetBackends
// forgets it, and with every backend down requests are still sent.
func TestSkipDown(t *testing.T) {
	const skip = 300 * time.Millisecond
	p := rrproxy.New(3, rrproxy.Options{SkipDown: skip, PinHeader: "X-Pin"})
	_, get := front(t, p)
	bs := backends(t, 3, 0)
	bs[1] = deadURL(t)
	if err := p.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 6 {
		r := get()
		got = append(got, fmt.Sprint(r.status))
	}
	// 0, then 1 fails (502) and is passed over: 2, 0, 2, 0.
	if want := []string{"200", "502", "200", "200", "200", "200"}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if r := get("X-Pin", "2"); r.status != http.StatusBadGateway {
		t.Errorf("pinned to the skipped backend: %d, want 502", r.status)
	}
	if c := p.Counts(); c[1] != 2 {
		t.Errorf("counts %v: the skipped backend got requests while passed over", c)
	}

	// SetBackends forgets which were passed over.
	if err := p.SetBackends(backends(t, 3, 20)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		seen[get().fields[0]] = true
	}
	if len(seen) != 3 {
		t.Errorf("after SetBackends: served by %v, want all three", seen)
	}

	// Once SkipDown is over, the backend is tried again.
	if err := p.SetBackends(bs); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		get()
	}
	time.Sleep(skip + 50*time.Millisecond)
	failed := 0
	for range 3 {
		if get().status == http.StatusBadGateway {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("after SkipDown: %d of 3 failed, want 1 (the backend tried again)", failed)
	}

	// All down: requests still go somewhere (and fail).
	dead := []string{deadURL(t), deadURL(t), deadURL(t)}
	if err := p.SetBackends(dead); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if r := get(); r.status != http.StatusBadGateway {
			t.Fatalf("all backends dead: %d", r.status)
		}
	}
}

// TestClientGoneMarksNothing: a client that hangs up while a backend is
// slow says nothing of the backend: it is not passed over.
func TestClientGoneMarksNothing(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	p := rrproxy.New(2, rrproxy.Options{SkipDown: time.Minute})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	if err := p.SetBackends([]string{slow.URL, backends(t, 1, 0)[0]}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatal("the request to the slow backend did not time out")
	}
	time.Sleep(100 * time.Millisecond) // the proxy sees the hang-up
	for range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
		cancel()
	}
	time.Sleep(100 * time.Millisecond)
	if c := p.Counts(); c[0] != 2 {
		t.Errorf("counts %v: the slow backend was passed over after a client hung up", c)
	}
}
