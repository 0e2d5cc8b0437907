package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// stepTimeout bounds one step of a browser test.
const stepTimeout = 20 * time.Second

// chromium finds Debian's chromium, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	const msg = "no chromium installed (Debian: apt-get install -y chromium; .ci/run installs it)"
	if os.Getenv("GATEHOUSE_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + "; GATEHOUSE_REQUIRE_BROWSER=1 makes this a failure")
	}
	t.Skip("skipping the browser test: " + msg)
	return ""
}

// chrome is a headless Chromium with one tab, and the steps a browser test
// takes in it. A step that fails ends the test with the page it was on.
type chrome struct {
	t    *testing.T
	bctx context.Context // the browser's: it lives as long as the test
	ctx  context.Context // bctx bounded by the whole test's timeout
}

// startChrome starts Chromium (or skips the test, see chromium), gives the
// test timeout to run in, and stops the browser when the test ends.
func startChrome(t *testing.T, timeout time.Duration) *chrome {
	t.Helper()
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The HTTPS test servers use httptest's self-signed certificate.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	// The first action starts the browser, which lives as long as bctx: no
	// timeout on that one; every later step gets its own.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancel)
	return &chrome{t: t, bctx: bctx, ctx: ctx}
}

// dump describes the page for a failure message: its URL and body.
func (c *chrome) dump() string {
	dctx, cancel := context.WithTimeout(c.bctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(dctx, chromedp.Location())
	body, _ := chromedp.Run(dctx, chromedp.OuterHTML(chromedp.CSS("body")))
	return "at " + loc + ":\n" + body
}

// do runs the steps.
func (c *chrome) do(step string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		c.t.Fatalf("%s: %v\n%s", step, err, c.dump())
	}
}

// text returns the visible text of the first element sel matches.
func (c *chrome) text(sel string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		c.t.Fatalf("text of %s: %v\n%s", sel, err, c.dump())
	}
	return v
}

// eval evaluates a JavaScript expression and decodes its value into out
// (nil: the value is dropped).
func (c *chrome) eval(expr string, out any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
	if err != nil {
		c.t.Fatalf("evaluating %s: %v\n%s", expr, err, c.dump())
	}
	if out == nil {
		return
	}
	b, _ := json.Marshal(v)
	if err := json.Unmarshal(b, out); err != nil {
		c.t.Fatalf("evaluating %s: %v", expr, err)
	}
}

// waitFor polls until one of the selectors is on the page and returns it.
func (c *chrome) waitFor(step string, selectors ...string) string {
	c.t.Helper()
	for end := time.Now().Add(stepTimeout); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, sel := range selectors {
			found, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`))
			if err == nil && found {
				return sel
			}
		}
	}
	c.t.Fatalf("%s: none of %v appeared\n%s", step, selectors, c.dump())
	return ""
}

// load runs steps that replace the page (a form posted, a link followed, a
// script that navigates) and waits until a new page has loaded, after
// any redirects. It returns the new page's URL. The old page is marked
// first, so that what the step left on screen is never taken for its
// outcome; reads that meet a page going away are tried again.
func (c *chrome) load(step string, steps ...chromedp.Action[chromedp.Void]) string {
	c.t.Helper()
	c.eval(`document.documentElement.dataset.replaced = 'yes'`, nil)
	c.do(step, steps...)
	var loc string
	for end := time.Now().Add(stepTimeout); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		v, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]any](
			`[document.readyState === 'complete' && document.documentElement.dataset.replaced === undefined, location.href]`))
		if err != nil || len(v) != 2 {
			continue
		}
		loc, _ = v[1].(string)
		if done, _ := v[0].(bool); done {
			return loc
		}
	}
	c.t.Fatalf("%s: no new page loaded (still at %s)\n%s", step, loc, c.dump())
	return ""
}

// urlPath returns the path of a URL the browser is at.
func urlPath(t *testing.T, loc string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("browser at %q: %v", loc, err)
	}
	return u.Path
}

// waitPage waits until the browser has loaded a page at the path (a
// script may take it there).
func (c *chrome) waitPage(step, want string) {
	c.t.Helper()
	var loc string
	for end := time.Now().Add(stepTimeout); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		v, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]any](`[document.readyState === 'complete', location.href]`))
		if err != nil || len(v) != 2 {
			continue
		}
		loc, _ = v[1].(string)
		if done, _ := v[0].(bool); done && urlPath(c.t, loc) == want {
			return
		}
	}
	c.t.Fatalf("%s: at %s, want %s\n%s", step, loc, want, c.dump())
}

// wantPage fails the test unless the browser is at the path.
func (c *chrome) wantPage(step, loc, want string) {
	c.t.Helper()
	if p := urlPath(c.t, loc); p != want {
		c.t.Fatalf("%s: at %s, want %s\n%s", step, loc, want, c.dump())
	}
}

// textContent returns the text of every element sel matches, hidden ones
// included.
func (c *chrome) textContent(sel string) []string {
	c.t.Helper()
	var out []string
	c.eval(`[...document.querySelectorAll(`+jsString(sel)+`)].map(e => e.textContent.trim())`, &out)
	return out
}

// screenshot saves the whole page as PNG at path.
func (c *chrome) screenshot(path string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("screenshot saved to %s", path)
}

// css is a CSS selector.
func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}
