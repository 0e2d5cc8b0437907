// Package e2e holds Gatehouse's end-to-end tests: the authorization server,
// the resource API and the web app started together in one process as
// `gatehouse serve` runs them (built by package assemble, behind the same
// middleware, served over HTTPS on free loopback ports, through
// internal/assemble/assembletest) over one SQLite store, driven like a
// person would drive them — with net/http and a cookie jar, and with a real headless Chromium
// (chromedp) where one is installed.
//
// The package has no code outside its tests.
package e2e
