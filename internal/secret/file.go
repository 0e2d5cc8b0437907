package secret

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxFileSize bounds what LoadOrCreate reads; a secret file is a few dozen bytes.
const maxFileSize = 64 << 10

// LoadOrCreate reads the Key stored at path. If there is no such file it
// generates a new Key and stores it there with mode 0600, creating missing
// directories with mode 0700, and reports created. The file appears
// atomically and is never overwritten: if another process creates it first,
// that process's Key is loaded and returned instead.
//
// LoadOrCreate refuses an existing file that group or others may read or
// write, or anything that is not a regular file, naming the file in the error.
func LoadOrCreate(path string) (k *Key, created bool, err error) {
	k, err = load(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	k, err = New()
	if err != nil {
		return nil, false, err
	}
	switch err := create(path, []byte(k.Encode()+"\n")); {
	case err == nil:
		return k, true, nil
	case errors.Is(err, fs.ErrExist):
		// Lost a race with another process starting at the same time.
		k, err := load(path)
		return k, false, err
	default:
		return nil, false, err
	}
}

func load(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err // the caller creates it; not wrapped further
		}
		return nil, fmt.Errorf("secret: reading %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: reading %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: %s is not a regular file", path)
	}
	// Windows has no Unix permission bits; there the ACLs of the data
	// directory protect the file.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret: %s has mode %04o, readable or writable by group or others; run `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("secret: reading %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("secret: %s is larger than %d bytes; it does not look like a secret file", path, maxFileSize)
	}
	k, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// create writes data to a temporary file in path's directory, syncs it, and
// hard-links it into place, which fails with fs.ErrExist rather than replace
// an existing file. Where hard links are unavailable it falls back to an
// exclusive create.
func create(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secret: creating directory for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".secret-*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("secret: creating %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeSync(tmp, data); err != nil {
		return fmt.Errorf("secret: writing %s: %w", path, err)
	}
	err = os.Link(tmpName, path)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		err = createExclusive(path, data)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("secret: creating %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

func createExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeSync(f, data); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// writeSync writes data, flushes it to stable storage and closes f.
func writeSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a new directory entry durable; best effort, as not every
// platform can sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
