package e2e

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserFlow drives a real headless Chromium through the web app: open
// → sign in → consent (if asked) → the seeded todos → add → done → edit →
// delete → sign out → a reload shows signed-out, and the refresh token the
// web app held is inactive at introspection. With GATEHOUSE_SCREENSHOT set,
// the signed-in page is saved there as PNG.
func TestBrowserFlow(t *testing.T) {
	c := startChrome(t, 90*time.Second)
	s := startStack(t, options{})
	do, text, eval, waitFor := c.do, c.text, c.eval, c.waitFor

	do("open", chromedp.Navigate(s.webapp.URL+"/"), chromedp.WaitVisible(css("#signed-out")))
	do("sign in", chromedp.Click(css("#sign-in")), chromedp.WaitVisible(css("#password")))
	do("login form",
		chromedp.SendKeys(css("#username"), username),
		chromedp.SendKeys(css("#password"), userPassword),
		chromedp.Submit(css("#password")))
	if waitFor("after login", "#user-name", `button[name="decision"][value="allow"]`) != "#user-name" {
		do("consent", chromedp.Click(css(`button[name="decision"][value="allow"]`)))
		waitFor("after consent", "#user-name")
	}

	do("signed in", chromedp.WaitVisible(css("#todos")))
	if who := text(".who"); !strings.Contains(who, userName) || !strings.Contains(who, userEmail) {
		t.Errorf("header shows %q, want name and email", who)
	}
	var titles []string
	eval(`[...document.querySelectorAll('#todos li')].map(li => li.dataset.title)`, &titles)
	for _, title := range seededTodos {
		if !slices.Contains(titles, title) {
			t.Errorf("seeded todo %q not shown (have %v)", title, titles)
		}
	}
	if path := os.Getenv("GATEHOUSE_SCREENSHOT"); path != "" {
		c.screenshot(path)
	}
	rts := s.webappRefreshTokens()
	if len(rts) != 1 {
		t.Fatalf("web app holds %d refresh tokens, want 1", len(rts))
	}

	const title, edited = "Try Gatehouse in Chromium", "Tried Gatehouse in Chromium"
	item := func(t string) string { return `#todos li[data-title="` + t + `"]` }
	do("add",
		chromedp.SendKeys(css("#new-title"), title),
		chromedp.Click(css("#add")),
		chromedp.WaitVisible(css(item(title))))
	do("done",
		chromedp.Click(css(item(title)+" form.toggle button")),
		chromedp.WaitVisible(css(`#todos li.done[data-title="`+title+`"]`)))
	do("edit",
		chromedp.SetValue(css(item(title)+" form.rename input[name=title]"), edited),
		chromedp.Click(css(item(title)+" form.rename button")),
		chromedp.WaitVisible(css(item(edited))))
	do("delete", chromedp.Click(css(item(edited)+" form.delete button")))
	// The previous page had a flash too: wait for the one the delete shows.
	// The page is replaced while this polls (the form's 303 and the GET
	// after it), so a read that meets the old page's context going away is
	// simply tried again.
	var left int
	var flash string
	for deadline := time.Now().Add(15 * time.Second); ; {
		v, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]any](`[document.querySelector('#flash') ? document.querySelector('#flash').textContent : '', `+
			`document.querySelectorAll('#todos li[data-title="`+edited+`"]').length]`))
		if err == nil && len(v) == 2 {
			flash, _ = v[0].(string)
			n, _ := v[1].(float64)
			left = int(n)
			if strings.Contains(flash, "deleted") && left == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delete: flash %q, %d items left with the title (last error: %v)\n%s", flash, left, err, c.dump())
		}
		time.Sleep(100 * time.Millisecond)
	}

	do("sign out", chromedp.Click(css("#sign-out")))
	// The authorization server may ask to confirm the logout. The web app's
	// own page has a logout form too, so only a form on the authorization
	// server's origin counts, and the page may change under us: poll.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var state string
		eval(`document.querySelector('#signed-out') ? 'out' : `+
			`(location.origin === `+jsString(s.authz.URL)+` && document.querySelector('form[action$="logout"] button[type="submit"]')) ? 'confirm' : 'wait'`, &state)
		if state == "out" {
			break
		}
		if state == "confirm" {
			_, _ = chromedp.Run(c.ctx, chromedp.Evaluate[any](`document.querySelector('form[action$="logout"] button[type="submit"]').click()`))
		}
		if time.Now().After(deadline) {
			t.Fatalf("after sign-out: never reached the signed-out page\n%s", c.dump())
		}
	}
	do("reload", chromedp.Reload(), chromedp.WaitVisible(css("#signed-out")))
	if got := s.introspect(rts[0]); got["active"] != false {
		t.Fatalf("refresh token after sign-out: %v, want active:false", got)
	}
}
