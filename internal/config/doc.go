// Package config holds Gatehouse's run-time configuration: the flags every
// command shares, their GATEHOUSE_* environment equivalents (a flag given on
// the command line wins), the defaults derived from the data directory, and
// the checks that turn a bad setting into one clear line.
package config
