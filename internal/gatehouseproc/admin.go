package gatehouseproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Admin runs the admin commands of one installation.
type Admin struct {
	Bin   string
	Env   []string // added to this process's environment
	Flags []string // appended to every command: the storage flags
}

// Run runs one admin command with stdin as its input and returns its
// standard output.
func (a Admin) Run(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, a.Bin, append(append([]string(nil), args...), a.Flags...)...)
	cmd.Env = append(os.Environ(), a.Env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gatehouse %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// AddClient registers a confidential client (client add --json with args)
// and returns its secret.
func (a Admin) AddClient(ctx context.Context, args ...string) (string, error) {
	out, err := a.Run(ctx, "", append([]string{"client", "add", "--json"}, args...)...)
	if err != nil {
		return "", err
	}
	var r struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Secret == "" {
		return "", errors.Join(fmt.Errorf("client add printed %q, want its secret as JSON", out), err)
	}
	return r.Secret, nil
}
