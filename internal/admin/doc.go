// Package admin carries out an operator's commands against the store: adding,
// listing, disabling and removing users and clients, replacing passwords
// (and ending what the user is signed in to), registering resource servers,
// rotating client secrets, setting how clients authenticate (a secret or
// private_key_jwt keys), and the idempotent demo setup (seed). It owns the
// rules a registration must follow, such as which redirect URIs and resource
// audiences are acceptable.
package admin
