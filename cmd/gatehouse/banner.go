package main

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/assemble"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// demoLogin is the banner's line about the demo login ("" without a demo
// user): on the start that created it, its password, shown once. Either
// way it gives the command that sets a new password, with the storage
// flags serve was given, so that it reaches this installation's database
// when copied as it stands.
func demoLogin(s *config.Storage, seeded assemble.Seeded) string {
	if seeded.Username == "" {
		return ""
	}
	cmd := "gatehouse user set-password --username " + shellWord(seeded.Username) + " --password-stdin" + storageFlags(s)
	if seeded.Password != "" {
		return fmt.Sprintf("Demo login: username %q, password %q (shown once; change it with: %s)", seeded.Username, seeded.Password, cmd)
	}
	return fmt.Sprintf("Demo login: username %q (its password was shown at first start; reset it with: %s)", seeded.Username, cmd)
}

// storageFlags are the flags an admin command needs to open the database
// serve uses, with a leading space: --data-dir for the embedded database,
// --db for a DSN. A DSN with a password is not printed, as anyone who sees
// the output would see it: it stands as DSN.
func storageFlags(s *config.Storage) string {
	if s.DB == "" {
		return " --data-dir " + shellWord(s.DataDir)
	}
	u, err := url.Parse(s.DB)
	if err != nil {
		return " --db DSN"
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		return " --db DSN"
	}
	return " --db " + shellWord(s.DB)
}

// plainWord is a shell word that needs no quotes.
var plainWord = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
