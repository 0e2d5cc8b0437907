// Package logbuf buffers a process's log output and writes it out at most
// every FlushInterval (100 ms by default) or when the buffer is full,
// instead of one write system call per line: for a server logging a line
// per request those calls are a measurable share of its CPU (see
// docs/performance.md). Close writes out
// what is left; lines of a crash that kills the process (SIGKILL) within
// the last interval are lost, as with any buffered log.
package logbuf
