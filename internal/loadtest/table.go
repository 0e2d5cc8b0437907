package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Row is one scenario's figures, with the bare server's under the same load.
type Row struct {
	Scenario  string `json:"scenario"`
	Note      string `json:"note,omitempty"`
	Gatehouse Stats  `json:"gatehouse"`
	Bare      *Stats `json:"bare,omitempty"`
	// Ratio is Gatehouse's requests/s over the bare server's (0 without one).
	Ratio float64 `json:"ratio,omitempty"`
}

// Report is everything one run measured.
type Report struct {
	Date      time.Time `json:"date"`
	Machine   string    `json:"machine"`
	Transport string    `json:"transport"` // h1, h2 or plain
	Database  string    `json:"database"`
	Conns     int       `json:"connections"`
	// Rate is the open loop's requests per second, for Gatehouse and the
	// bare server alike (0: closed loops).
	Rate      float64       `json:"rate,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
	Instances int           `json:"instances,omitempty"` // gatehouse processes on the one database
	Proxied   bool          `json:"proxied,omitempty"`   // through a round-robin proxy per role
	Rows      []Row         `json:"scenarios"`

	StartupToReady time.Duration `json:"startup_to_ready_ns,omitempty"` // on an existing data directory; the slowest instance
	IdleRSS        int64         `json:"idle_rss_bytes,omitempty"`      // summed over instances
	History        *History      `json:"history,omitempty"`
	// PerInstance is how many requests each role's proxy sent to each
	// instance, warm-up and preparation included.
	PerInstance map[string][]int64 `json:"requests_per_instance,omitempty"`
	Notes       []string           `json:"notes,omitempty"`
}

// History compares token issuance on an empty store with issuance on a
// store holding many expired tokens.
type History struct {
	ExpiredTokens int           `json:"expired_tokens"`
	EmptyP50      time.Duration `json:"empty_p50_ns"`
	FullP50       time.Duration `json:"full_p50_ns"`
	EmptyRPS      float64       `json:"empty_rps"`
	FullRPS       float64       `json:"full_rps"`
}

// Change is FullP50 relative to EmptyP50 (0.05 = 5% slower).
func (h *History) Change() float64 {
	if h.EmptyP50 <= 0 {
		return 0
	}
	return float64(h.FullP50-h.EmptyP50) / float64(h.EmptyP50)
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes r as a markdown table and a few lines below it.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s, %s, %s, %s per scenario, %s%s\n\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine, transportName(r.Transport), r.loop(), r.Duration, r.Database, r.setup())
	scenario, rss := "scenario", "server RSS"
	if r.Proxied {
		scenario = fmt.Sprintf("scenario, %s behind the proxy", plural(r.Instances, "instance"))
	}
	if r.Instances > 1 {
		rss = fmt.Sprintf("server RSS (sum of %d)", r.Instances)
	}
	open, openAlign := "", ""
	if r.Rate > 0 {
		open, openAlign = " late | unanswered |", "--:|--:|"
	}
	fmt.Fprintf(&b, "| %s | req/s | p50 | p99 | p99.9 | errors |%s %s | bare req/s | bare p50 | bare RSS | Gatehouse/bare |\n", scenario, open, rss)
	b.WriteString("|---|--:|--:|--:|--:|--:|" + openAlign + "--:|--:|--:|--:|--:|\n")
	for _, row := range r.Rows {
		g := row.Gatehouse
		name := row.Scenario
		if row.Note != "" {
			name += " (" + row.Note + ")"
		}
		bareRPS, bareP50, bareRSS, ratio := "–", "–", "–", "–"
		if row.Bare != nil {
			bareRPS, bareP50, bareRSS = fmtRate(row.Bare.RPS), fmtDur(row.Bare.P50), fmtMB(row.Bare.PeakRSS)
			ratio = fmt.Sprintf("%.1f%%", 100*row.Ratio)
		}
		open := ""
		if r.Rate > 0 {
			open = fmt.Sprintf(" %d | %d |", g.Late, g.Unanswered)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d |%s %s | %s | %s | %s | %s |\n",
			name, fmtRate(g.RPS), fmtDur(g.P50), fmtDur(g.P99), fmtDur(g.P999), g.Errors, open, fmtMB(g.PeakRSS),
			bareRPS, bareP50, bareRSS, ratio)
	}
	b.WriteString("\n")
	if r.StartupToReady > 0 {
		fmt.Fprintf(&b, "- start-up to ready on an existing data directory: %s", fmtDur(r.StartupToReady))
		if r.Instances > 1 {
			fmt.Fprintf(&b, " (the slowest of %d started together)", r.Instances)
		}
		b.WriteString("\n")
	}
	if r.IdleRSS > 0 {
		fmt.Fprintf(&b, "- idle RSS after start: %s", fmtMB(r.IdleRSS))
		if r.Instances > 1 {
			fmt.Fprintf(&b, " (sum of %d instances)", r.Instances)
		}
		b.WriteString("\n")
	}
	if h := r.History; h != nil {
		fmt.Fprintf(&b, "- client-credentials issuance p50: %s on an empty store, %s with %d expired tokens (%+.1f%%); %s vs %s req/s\n",
			fmtDur(h.EmptyP50), fmtDur(h.FullP50), h.ExpiredTokens, 100*h.Change(), fmtRate(h.EmptyRPS), fmtRate(h.FullRPS))
	}
	for _, row := range r.Rows {
		if row.Gatehouse.FirstError != "" {
			fmt.Fprintf(&b, "- %s: first error: %s\n", row.Scenario, row.Gatehouse.FirstError)
		}
		if row.Bare != nil && row.Bare.FirstError != "" {
			fmt.Fprintf(&b, "- %s (bare): first error: %s\n", row.Scenario, row.Bare.FirstError)
		}
		if row.Bare != nil && (row.Bare.Late > 0 || row.Bare.Unanswered > 0) {
			fmt.Fprintf(&b, "- %s (bare): %d started late, %d unanswered\n", row.Scenario, row.Bare.Late, row.Bare.Unanswered)
		}
	}
	if len(r.PerInstance) > 0 {
		var parts []string
		for _, role := range slices.Sorted(maps.Keys(r.PerInstance)) {
			var cs []string
			for _, n := range r.PerInstance[role] {
				cs = append(cs, strconv.FormatInt(n, 10))
			}
			parts = append(parts, role+" "+strings.Join(cs, " / "))
		}
		fmt.Fprintf(&b, "- requests per instance through the proxies (preparation included): %s\n", strings.Join(parts, "; "))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// loop describes how the load was driven: closed loops, or an open loop
// at a rate.
func (r *Report) loop() string {
	if r.Rate <= 0 {
		return fmt.Sprintf("%d connections", r.Conns)
	}
	return fmt.Sprintf("%d connections open loop at %s req/s (the bare server too; latency from each request's "+
		"intended start, req/s achieved, late = started >1 ms after it was due, unanswered = due but not answered by the end)",
		r.Conns, strconv.FormatFloat(r.Rate, 'f', -1, 64))
}

// openLoopSummary is the open loop's figures for a progress line, empty
// for a closed loop.
func openLoopSummary(s Stats) string {
	if s.TargetRPS <= 0 {
		return ""
	}
	return fmt.Sprintf(" (target %s req/s: %d due, %d late, %d unanswered)", fmtRate(s.TargetRPS), s.Scheduled, s.Late, s.Unanswered)
}

// setup describes the instances and the proxy, empty for one instance
// reached directly.
func (r *Report) setup() string {
	if !r.Proxied {
		return ""
	}
	tls := "TLS ends at the proxy, "
	if r.Transport == TransportPlain {
		tls = ""
	}
	return fmt.Sprintf(", %s behind a round-robin reverse proxy per role in the load tool (%sthe bare server is behind one too)",
		plural(r.Instances, "gatehouse instance"), tls)
}

func plural(n int, what string) string {
	n = max(n, 1)
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func transportName(t string) string {
	switch t {
	case "h1":
		return "TLS, HTTP/1.1 keep-alive"
	case "h2":
		return "TLS, HTTP/2"
	case "plain":
		return "plain HTTP/1.1 (--insecure-http)"
	}
	return t
}

func fmtRate(rps float64) string {
	switch {
	case rps >= 100:
		return fmt.Sprintf("%.0f", rps)
	case rps >= 10:
		return fmt.Sprintf("%.1f", rps)
	}
	return fmt.Sprintf("%.2f", rps)
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func fmtMB(b int64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
}
