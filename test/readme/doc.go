// Package readme runs the shell blocks of the README and of docs/ as a
// newcomer would, against a real gatehouse serve, so that a command that
// stops working as written fails the tests.
//
// Every ```sh block of those files runs, in order, in one bash per file
// (variables and functions carry from block to block), with set -e and
// pipefail, in a copy of the repository. HTML comments just before a block
// direct the runner; a reader of the rendered page does not see them:
//
//	<!-- readme-test: skip REASON -->          not run; the reason is required
//	<!-- readme-test: background until TEXT --> run in the background (a server, "in another
//	                                             terminal") and wait until its output shows TEXT
//	<!-- readme-test: output contains TEXT -->  the block's output must contain TEXT (repeatable)
//
// Blocks of other languages (```yaml, ```text, ```) are never run.
package readme
