// Package assembletest starts Gatehouse's roles in the test's process the
// way `gatehouse serve` runs them: configured by serve's flags, built by
// package assemble (so behind the same middleware, on the same stores) and
// served by httpserver on free loopback ports. It also holds what the
// in-process harnesses share: a log buffer to read the roles' JSON logs
// back, and the registration of the people and clients a test signs in
// with.
package assembletest
