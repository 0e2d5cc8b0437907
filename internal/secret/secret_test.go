package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func mustNew(t testing.TB) *Key {
	t.Helper()
	k, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := mustNew(t)
	other := mustNew(t)

	tests := []struct {
		name     string
		open     *Key
		aadSeal  []byte
		aadOpen  []byte
		tamper   func([]byte) []byte
		wantOpen bool
	}{
		{name: "round trip", open: k, aadSeal: []byte("row 1"), aadOpen: []byte("row 1"), wantOpen: true},
		{name: "round trip without additional data", open: k, wantOpen: true},
		{name: "wrong additional data", open: k, aadSeal: []byte("row 1"), aadOpen: []byte("row 2")},
		{name: "missing additional data", open: k, aadSeal: []byte("row 1")},
		{name: "wrong key", open: other, aadSeal: []byte("row 1"), aadOpen: []byte("row 1")},
		{name: "flipped ciphertext bit", open: k, tamper: func(c []byte) []byte { c[len(c)/2] ^= 1; return c }},
		{name: "flipped nonce bit", open: k, tamper: func(c []byte) []byte { c[0] ^= 0x80; return c }},
		{name: "flipped tag bit", open: k, tamper: func(c []byte) []byte { c[len(c)-1] ^= 1; return c }},
		{name: "truncated", open: k, tamper: func(c []byte) []byte { return c[:len(c)-1] }},
		{name: "shorter than overhead", open: k, tamper: func(c []byte) []byte { return c[:10] }},
		{name: "empty", open: k, tamper: func([]byte) []byte { return nil }},
	}
	plaintext := []byte("a private signing key")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := k.Seal(plaintext, tt.aadSeal)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(ct, plaintext) {
				t.Fatal("ciphertext contains the plaintext")
			}
			if tt.tamper != nil {
				ct = tt.tamper(ct)
			}
			got, err := tt.open.Open(ct, tt.aadOpen)
			if tt.wantOpen {
				if err != nil || !bytes.Equal(got, plaintext) {
					t.Fatalf("Open = %q, %v; want %q", got, err, plaintext)
				}
				return
			}
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open err = %v; want ErrDecrypt", err)
			}
		})
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	k := mustNew(t)
	a, _ := k.Seal([]byte("x"), nil)
	b, _ := k.Seal([]byte("x"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
}

func TestSealConcurrent(t *testing.T) {
	k := mustNew(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			msg := fmt.Appendf(nil, "message %d", i)
			ct, err := k.Seal(msg, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if got, err := k.Open(ct, nil); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("Open = %q, %v", got, err)
			}
		})
	}
	wg.Wait()
}

func TestZeroKeyFailsSafely(t *testing.T) {
	for _, k := range []*Key{nil, {}, {h: &hidden{}}} {
		if _, err := k.Seal([]byte("x"), nil); err == nil {
			t.Error("Seal with zero Key succeeded")
		}
		if _, err := k.Open(make([]byte, 64), nil); err == nil {
			t.Error("Open with zero Key succeeded")
		}
		if got := k.Derive("x", 32); got != nil {
			t.Errorf("Derive with zero Key = %x", got)
		}
		if got := k.Encode(); got != "" {
			t.Errorf("Encode with zero Key = %q", got)
		}
	}
}

func TestParse(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb, 0xff, 0x01}, 11)[:32] // exercises +/ vs -_
	long := bytes.Repeat([]byte{0x42}, 64)
	tests := []struct {
		name    string
		in      string
		want    []byte
		wantErr string
	}{
		{name: "base64 std", in: base64.StdEncoding.EncodeToString(raw), want: raw},
		{name: "base64 url", in: base64.URLEncoding.EncodeToString(raw), want: raw},
		{name: "base64 raw std", in: base64.RawStdEncoding.EncodeToString(raw), want: raw},
		{name: "base64 raw url", in: base64.RawURLEncoding.EncodeToString(raw), want: raw},
		{name: "hex lower", in: hex.EncodeToString(raw), want: raw},
		{name: "hex upper", in: strings.ToUpper(hex.EncodeToString(raw)), want: raw},
		{name: "whitespace trimmed", in: "  " + hex.EncodeToString(raw) + "\r\n", want: raw},
		{name: "longer than 32 bytes", in: base64.StdEncoding.EncodeToString(long), want: long},
		{name: "empty", in: " \n", wantErr: "empty"},
		{name: "short base64", in: base64.StdEncoding.EncodeToString(raw[:31]), wantErr: "too short: decodes to 31 bytes"},
		{name: "short hex", in: hex.EncodeToString(raw[:16]), wantErr: "too short: decodes to 16 bytes"},
		{name: "a password, not an encoding", in: "correct horse battery staple!", wantErr: "not hex or base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse err = %v; want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.keys().raw, tt.want) {
				t.Fatalf("Parse = %x; want %x", k.keys().raw, tt.want)
			}
		})
	}
}

func TestEncodeParseRoundTrip(t *testing.T) {
	k := mustNew(t)
	k2, err := Parse(k.Encode())
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := k.Seal([]byte("x"), nil)
	if _, err := k2.Open(ct, nil); err != nil {
		t.Fatalf("a Key parsed from Encode cannot open what the original sealed: %v", err)
	}
}

func TestDerive(t *testing.T) {
	k := mustNew(t)
	a := k.Derive("cookie-signing", 32)
	if len(a) != 32 {
		t.Fatalf("len = %d", len(a))
	}
	if !bytes.Equal(a, k.Derive("cookie-signing", 32)) {
		t.Error("Derive is not deterministic")
	}
	if bytes.Equal(a, k.Derive("csrf", 32)) {
		t.Error("different purposes give the same subkey")
	}
	if bytes.Equal(a, k.keys().raw) {
		t.Error("subkey equals the secret")
	}
	if bytes.Equal(a, mustNew(t).Derive("cookie-signing", 32)) {
		t.Error("different keys give the same subkey")
	}
	for _, n := range []int{0, -1, 255*32 + 1} {
		if got := k.Derive("x", n); got != nil {
			t.Errorf("Derive(n=%d) = %d bytes; want nil", n, len(got))
		}
	}
	if got := k.Derive("", 32); got != nil {
		t.Error("Derive with empty purpose returned a key")
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k := mustNew(t)
	secrets := []string{
		k.Encode(),
		hex.EncodeToString(k.keys().raw),
		fmt.Sprint(k.keys().raw),
		base64.StdEncoding.EncodeToString(k.keys().raw),
	}
	type holder struct {
		Name string
		Key  Key
		Ptr  *Key
		key  Key
	}
	h := holder{Name: "cfg", Key: *k, Ptr: k, key: *k}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		outputs = append(outputs,
			fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outputs = append(outputs, fmt.Sprint(k), fmt.Sprintln(*k))

	for _, newHandler := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(newHandler(&buf))
		log.Info("start", "secret", k, "value", *k, slog.Group("g", "secret", k), "any", slog.AnyValue(k))
		outputs = append(outputs, buf.String())
	}
	if b, err := json.Marshal(h); err == nil {
		outputs = append(outputs, string(b))
	}

	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("output reveals the key:\n%s", out)
			}
		}
	}
	if got := fmt.Sprint(k); !strings.Contains(got, "REDACTED") {
		t.Errorf("fmt.Sprint(k) = %q; want a redaction", got)
	}
}

func TestLoadOrCreate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	t.Run("creates 0600 in a new 0700 directory, then reuses", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		path := filepath.Join(dir, "secret")
		k, created, err := LoadOrCreate(path)
		if err != nil || !created {
			t.Fatalf("LoadOrCreate = %v, %v; want created", created, err)
		}
		assertMode(t, path, 0o600)
		assertMode(t, dir, 0o700|os.ModeDir)

		k2, created, err := LoadOrCreate(path)
		if err != nil || created {
			t.Fatalf("second LoadOrCreate = %v, %v; want loaded", created, err)
		}
		if k.Encode() != k2.Encode() {
			t.Fatal("second LoadOrCreate returned a different key")
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("directory has %d entries; want only the secret file", len(entries))
		}
	})

	valid := strings.Repeat("ab", 32) + "\n"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{name: "loads 0600", content: valid, mode: 0o600},
		{name: "loads 0400", content: valid, mode: 0o400},
		{name: "refuses 0644", content: valid, mode: 0o644, wantErr: "readable or writable by group or others"},
		{name: "refuses 0640", content: valid, mode: 0o640, wantErr: "mode 0640"},
		{name: "refuses 0602", content: valid, mode: 0o602, wantErr: "chmod 600"},
		{name: "too short", content: "abcd", mode: 0o600, wantErr: "too short"},
		{name: "empty", content: "", mode: 0o600, wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // undo umask
				t.Fatal(err)
			}
			_, created, err := LoadOrCreate(path)
			if created {
				t.Fatal("created a key over an existing file")
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v; want it to contain %q and the path", err, tt.wantErr)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Fatal("the existing file was changed")
			}
		})
	}

	t.Run("refuses a directory", func(t *testing.T) {
		path := t.TempDir()
		if _, _, err := LoadOrCreate(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("concurrent first start agrees on one key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "secret")
		const n = 8
		keys := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				k, _, err := LoadOrCreate(path)
				if err != nil {
					t.Error(err)
					return
				}
				keys[i] = k.Encode()
			})
		}
		wg.Wait()
		for _, k := range keys[1:] {
			if k != keys[0] {
				t.Fatal("concurrent callers got different keys")
			}
		}
	})
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModePerm | os.ModeDir); got != want {
		t.Errorf("%s mode = %v; want %v", path, got, want)
	}
}

func TestTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 43 {
			t.Fatalf("token %q has length %d; want 43", tok, len(tok))
		}
		if b, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(b) != TokenBytes {
			t.Fatalf("token %q is not %d base64url bytes: %v", tok, TokenBytes, err)
		}
		if seen[tok] {
			t.Fatal("repeated token")
		}
		seen[tok] = true
	}

	tests := []struct {
		name  string
		a, b  string
		equal bool
	}{
		{name: "same token", a: HashToken("abc"), b: HashToken("abc"), equal: true},
		{name: "different token", a: HashToken("abc"), b: HashToken("abd")},
		{name: "prefix", a: HashToken("abc"), b: HashToken("abc")[:10]},
		{name: "empty vs hash", a: "", b: HashToken("")},
		{name: "both empty", a: "", b: "", equal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EqualHash(tt.a, tt.b); got != tt.equal {
				t.Fatalf("EqualHash = %v; want %v", got, tt.equal)
			}
		})
	}
	// Known answer: SHA-256("abc"), FIPS 180-2 appendix B.1.
	want := base64.RawURLEncoding.EncodeToString(mustHex(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
	if got := HashToken("abc"); got != want {
		t.Fatalf("HashToken(abc) = %s; want %s", got, want)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func BenchmarkHashToken(b *testing.B) {
	tok, err := NewToken()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		HashToken(tok)
	}
}

func BenchmarkSeal(b *testing.B) {
	k := mustNew(b)
	msg := make([]byte, 256)
	aad := []byte("signing-key/1")
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := k.Seal(msg, aad); err != nil {
			b.Fatal(err)
		}
	}
}
