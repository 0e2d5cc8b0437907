package logbuf

import (
	"io"
	"sync"
	"time"
)

// Defaults of Writer.
const (
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultSize          = 64 << 10
)

// Writer buffers writes to an underlying writer. It is safe for concurrent
// use; each Write is kept whole (a log line is never split between two
// writes out, unless it is larger than the buffer).
type Writer struct {
	out  io.Writer
	size int

	mu     sync.Mutex
	buf    []byte
	err    error // the first error writing out; later writes return it
	closed bool

	stop chan struct{}
	done chan struct{}
}

// New returns a Writer to out that writes out every interval (when 0 or
// less, DefaultFlushInterval) or once size bytes are buffered (when 0 or
// less, DefaultSize). Close it to write out the rest and stop its
// goroutine.
func New(out io.Writer, interval time.Duration, size int) *Writer {
	if interval <= 0 {
		interval = DefaultFlushInterval
	}
	if size <= 0 {
		size = DefaultSize
	}
	w := &Writer{out: out, size: size, buf: make([]byte, 0, size), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop(interval)
	return w
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Write buffers p, writing out first if p would not fit. After Close it
// writes p through at once.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.out.Write(p)
	}
	if w.err != nil {
		return 0, w.err
	}
	if len(w.buf)+len(p) > w.size {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > w.size {
			return w.out.Write(p)
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.err != nil || len(w.buf) == 0 {
		return w.err
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		w.err = err
	}
	return err
}

// Close writes out what is buffered and stops buffering: later writes go
// straight through.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	err := w.flushLocked()
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return err
}
