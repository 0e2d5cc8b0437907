// Package admin carries out an operator's commands against the store: adding,
// listing and removing users and clients, rotating client secrets, and the
// idempotent demo setup (seed). It owns the rules a registration must follow,
// such as which redirect URIs are acceptable.
package admin
