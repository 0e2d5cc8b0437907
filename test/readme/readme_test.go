package readme

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoPassword is the demo user's password in every run: the README's
// first start prints a random one, which a script cannot read back.
const demoPassword = "readme demo password"

// defaultPorts are the ports the README's commands use: gatehouse serve's
// three roles and the example API of docs/protect-your-api.md.
var defaultPorts = []string{"8000", "8001", "5000", "9000"}

// TestDocs runs every shell block of the README and of docs/ (see the
// package documentation), one subtest per file.
func TestDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the README runner builds and starts gatehouse for each page")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("bash is not installed: %v", err)
	}
	wrap, why := isolation()
	if wrap == nil {
		msg := "the README runner needs ports " + strings.Join(defaultPorts, ", ") + " free (or unshare and ip, to give each page its own loopback): " + why
		if os.Getenv("GATEHOUSE_REQUIRE_DBS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{filepath.Join(root, "README.md")}, pages...)
	bin := t.TempDir()
	build(t, root, bin)
	for _, page := range pages {
		rel, _ := filepath.Rel(root, page)
		doc, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := parseBlocks(rel, string(doc))
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if !slices.ContainsFunc(blocks, func(b block) bool { return b.skip == "" }) {
			continue
		}
		t.Run(filepath.Base(rel), func(t *testing.T) {
			ws := t.TempDir()
			copyRepo(t, root, ws)
			script := filepath.Join(t.TempDir(), "page.sh")
			if err := os.WriteFile(script, []byte(pageScript(rel, blocks, filepath.Dir(script))), 0o600); err != nil {
				t.Fatal(err)
			}
			runPage(t, append(wrap, bash, script), ws, bin)
		})
	}
}

// isolation returns how to run a page: in a network namespace of its own
// (so that the README's fixed ports are free even while someone runs
// gatehouse serve on this machine), or directly when those ports are free.
// Nil, and why, when neither works.
func isolation() ([]string, string) {
	unshare, err1 := exec.LookPath("unshare")
	ip, err2 := exec.LookPath("ip")
	if err1 == nil && err2 == nil {
		// The namespace's loopback starts down.
		wrap := []string{unshare, "--map-root-user", "--net", "--", "sh", "-c", ip + ` link set lo up && exec "$@"`, "sh"}
		if out, err := exec.Command(wrap[0], append(wrap[1:], "true")...).CombinedOutput(); err == nil {
			return wrap, ""
		} else if len(out) > 0 {
			err1 = fmt.Errorf("%s", bytes.TrimSpace(out))
		} else {
			err1 = err
		}
	}
	for _, p := range defaultPorts {
		l, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			return nil, fmt.Sprintf("port %s is in use (is gatehouse serve running?); no network namespace: %v", p, errors.Join(err1, err2))
		}
		_ = l.Close()
	}
	return []string{}, ""
}

// build puts gatehouse on the runner's PATH, as `go install ./cmd/gatehouse`
// would for a reader, and the stand-in for the reader's browser beside it.
func build(t *testing.T, root, bin string) {
	t.Helper()
	for name, pkg := range map[string]string{"gatehouse": "./cmd/gatehouse", "readme-browser": "./test/readme/browser"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
}

// copyRepo copies the repository's files (tracked or not, but not those git
// ignores, such as gatehouse-data and a built binary) into ws: a fresh
// clone, as the README's reader starts from.
func copyRepo(t *testing.T, root, ws string) {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("listing the repository's files: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or not a plain file
		}
		dst := filepath.Join(ws, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(src, dst, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// pageScript is one bash script running a page's blocks in order. Each
// block's output goes to its own file (and is shown after it); when a
// command fails, set -e ends the script and the EXIT trap names the block
// and shows its output.
func pageScript(page string, blocks []block, dir string) string {
	var b strings.Builder
	b.WriteString("set -e -o pipefail\n")
	// The trap may run while a block's output is redirected to its file:
	// it writes to fd 3, the script's own output.
	b.WriteString(`exec 3>&1
__block=start; __out=/dev/null
trap '__rc=$?; if [ $__rc -ne 0 ]; then { echo "readme-test: $__block failed (exit $__rc); its output:"; cat "$__out"; } >&3; fi' EXIT
`)
	for i, blk := range blocks {
		where := fmt.Sprintf("%s:%d", page, blk.line)
		if blk.skip != "" {
			fmt.Fprintf(&b, "echo %s\n", shellQuote("readme-test: skip "+where+": "+blk.skip))
			continue
		}
		out := filepath.Join(dir, fmt.Sprintf("block%d.out", i))
		fmt.Fprintf(&b, "__block=%s; __out=%s\necho %s\n", shellQuote(where), shellQuote(out), shellQuote("readme-test: run "+where))
		if blk.background != "" {
			fmt.Fprintf(&b, "(\n%s) > \"$__out\" 2>&1 &\n", blk.script)
			fmt.Fprintf(&b, `__pid=$!; __until=$((SECONDS+180))
until grep -qF -- %[1]s "$__out"; do
  if ! kill -0 $__pid 2>/dev/null; then echo "readme-test: the background block ended before its output showed "%[1]s; false; fi
  if [ $SECONDS -ge $__until ]; then echo "readme-test: the background block's output did not show "%[1]s" within 3 minutes"; false; fi
  sleep 0.2
done
`, shellQuote(blk.background))
			continue
		}
		fmt.Fprintf(&b, "{\n%s} > \"$__out\" 2>&1 </dev/null\ncat \"$__out\"\n", blk.script)
		for _, c := range blk.contains {
			fmt.Fprintf(&b, "grep -qF -- %[1]s \"$__out\" || { echo \"readme-test: the output lacks \"%[1]s; false; }\n", shellQuote(c))
		}
	}
	b.WriteString("__block=end; __out=/dev/null\n")
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runPage runs a page's script in the workspace and fails the test with
// its output when it fails. Everything the page started in the background
// is stopped at the end: the script runs in a process group of its own.
func runPage(t *testing.T, argv []string, ws, bin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = ws
	cmd.Env = pageEnv(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A file, not a pipe: the servers the page left in the background hold
	// the output open until they are stopped below.
	out, err := os.Create(filepath.Join(t.TempDir(), "page.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Start()
	if err == nil {
		err = cmd.Wait()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	text, _ := os.ReadFile(out.Name())
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if testing.Verbose() {
		t.Logf("%s", text)
	}
}

// pageEnv is the reader's environment: the test's own, without any
// GATEHOUSE_ or curl setting that would change what the commands do, with
// gatehouse on the PATH, the demo user's password chosen, and a browser
// that signs in as the demo user (gatehouse token opens $BROWSER).
func pageEnv(bin string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GATEHOUSE_") || strings.HasPrefix(k, "CURL_") || k == "PATH" || k == "BROWSER" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GATEHOUSE_DEMO_PASSWORD="+demoPassword,
		"BROWSER="+filepath.Join(bin, "readme-browser"),
	)
}
