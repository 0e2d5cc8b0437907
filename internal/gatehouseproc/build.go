package gatehouseproc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// Package is the import path of the gatehouse command.
const Package = "github.com/gatehouse-dev/gatehouse/cmd/gatehouse"

// Build builds the gatehouse binary of this module into dir and returns
// its path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, Package)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building gatehouse: %w\n%s", err, out.String())
	}
	return bin, nil
}

// Builder builds the binary at most once, into a temporary directory, for
// every caller: a test binary's tests share one build. The zero value is
// ready to use; Remove deletes the build.
type Builder struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Bin returns the binary's path, building it on the first call (with
// ctx).
func (b *Builder) Bin(ctx context.Context) (string, error) {
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "gatehouse-bin-"); b.err != nil {
			return
		}
		b.bin, b.err = Build(ctx, b.dir)
	})
	return b.bin, b.err
}

// Remove deletes what Bin built.
func (b *Builder) Remove() error {
	if b.dir == "" {
		return nil
	}
	if err := os.RemoveAll(b.dir); err != nil {
		return fmt.Errorf("removing the build: %w", err)
	}
	return nil
}

// TB is the part of testing.TB that MustBin uses.
type TB interface {
	Helper()
	Context() context.Context
	Fatal(args ...any)
}

// MustBin is Bin for a test: it fails t when the build fails.
func (b *Builder) MustBin(t TB) string {
	t.Helper()
	bin, err := b.Bin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// Run runs a test binary's tests (m is its *testing.M) and then removes
// the build; it returns m's exit code: TestMain is os.Exit(b.Run(m)).
func (b *Builder) Run(m interface{ Run() int }) int {
	code := m.Run()
	_ = b.Remove()
	return code
}
