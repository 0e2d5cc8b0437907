package tokencli

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
)

// SystemBrowser opens u in the person's browser with the platform's opener
// (open on macOS, rundll32 on Windows, xdg-open elsewhere). It does not
// wait for the browser; an error means the opener could not be started.
func SystemBrowser(_ context.Context, u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return errors.Join(errors.New("no browser opener"), err)
	}
	// Reap the opener when it exits; its outcome is not the command's.
	go func() { _ = cmd.Wait() }()
	return nil
}

// CommandBrowser opens addresses with the command line in $BROWSER, as
// xdg-open, Python's webbrowser and gh do: the program and its arguments,
// separated by spaces, and the address as the last argument. It does not
// wait for the browser.
func CommandBrowser(commandLine string) func(context.Context, string) error {
	return func(_ context.Context, u string) error {
		argv := strings.Fields(commandLine)
		if len(argv) == 0 {
			return errors.New("BROWSER is empty")
		}
		cmd := exec.Command(argv[0], append(argv[1:], u)...)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("BROWSER %s: %w", argv[0], err)
		}
		go func() { _ = cmd.Wait() }()
		return nil
	}
}
