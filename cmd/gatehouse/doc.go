// Command gatehouse runs Gatehouse: an OAuth 2.1 / OpenID Connect
// authorization server, an Eve-style resource API and a client web app, and
// the commands to administer them. It only parses flags and wires packages.
package main
