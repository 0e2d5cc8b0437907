package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
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
	Date      time.Time     `json:"date"`
	Machine   string        `json:"machine"`
	Transport string        `json:"transport"` // h1, h2 or plain
	Database  string        `json:"database"`
	Conns     int           `json:"connections"`
	Duration  time.Duration `json:"duration_ns"`
	Rows      []Row         `json:"scenarios"`

	StartupToReady time.Duration `json:"startup_to_ready_ns,omitempty"` // on an existing data directory
	IdleRSS        int64         `json:"idle_rss_bytes,omitempty"`
	History        *History      `json:"history,omitempty"`
	Notes          []string      `json:"notes,omitempty"`
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
	fmt.Fprintf(&b, "%s, %s, %s, %d connections, %s per scenario, %s\n\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine, transportName(r.Transport), r.Conns, r.Duration, r.Database)
	b.WriteString("| scenario | req/s | p50 | p99 | p99.9 | errors | server RSS | bare req/s | bare p50 | bare RSS | Gatehouse/bare |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
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
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s |\n",
			name, fmtRate(g.RPS), fmtDur(g.P50), fmtDur(g.P99), fmtDur(g.P999), g.Errors, fmtMB(g.PeakRSS),
			bareRPS, bareP50, bareRSS, ratio)
	}
	b.WriteString("\n")
	if r.StartupToReady > 0 {
		fmt.Fprintf(&b, "- start-up to ready on an existing data directory: %s\n", fmtDur(r.StartupToReady))
	}
	if r.IdleRSS > 0 {
		fmt.Fprintf(&b, "- idle RSS after start: %s\n", fmtMB(r.IdleRSS))
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
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
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
