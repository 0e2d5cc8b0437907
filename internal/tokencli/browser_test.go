package tokencli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tokencli"
)

// TestCommandBrowser: $BROWSER's program gets its own arguments and then
// the address.
func TestCommandBrowser(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "opened")
	script := filepath.Join(dir, "browser.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" > "+out+".tmp && mv "+out+".tmp "+out+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := tokencli.CommandBrowser(script+" --new-window")(t.Context(), "https://127.0.0.1:8000/authorize?x=1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(out)
		if err == nil {
			if got, want := strings.TrimSpace(string(b)), "--new-window https://127.0.0.1:8000/authorize?x=1"; got != want {
				t.Errorf("the browser got %q, want %q", got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the browser command did not run")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCommandBrowserMissing(t *testing.T) {
	if err := tokencli.CommandBrowser("/nonexistent/browser")(t.Context(), "https://x"); err == nil {
		t.Error("a missing BROWSER program: no error")
	}
	if err := tokencli.CommandBrowser("  ")(t.Context(), "https://x"); err == nil {
		t.Error("an empty BROWSER: no error")
	}
}
