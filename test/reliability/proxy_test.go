package reliability

import (
	"net"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards loopback connections to a database server and can fail
// the two ways a database goes away:
//
//   - cut closes the listening socket (new connections are refused, as by a
//     stopped server or a closed port) and resets every open connection (as
//     a crashed server's would be); restore listens again on the address.
//   - hold silently drops everything, as a network partition does: open
//     connections and new ones are accepted but nothing is forwarded and
//     nothing answers; release resets them all and forwards again.
type tcpProxy struct {
	t      *testing.T
	addr   string // where gatehouse connects
	target string

	mu    sync.Mutex
	l     net.Listener // nil while cut
	held  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func (p *tcpProxy) holding() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// hold starts dropping everything.
func (p *tcpProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = true
}

// release resets every connection (their streams lost bytes) and forwards
// new ones again.
func (p *tcpProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = false
	for c := range p.conns {
		reset(c)
		delete(p.conns, c)
	}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

// forward pipes c to the target in both directions until either side ends.
func (p *tcpProxy) forward(c net.Conn) {
	if p.holding() {
		// Accepted, never answered: held until release or cut resets it.
		if !p.track(c) {
			reset(c)
		}
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		reset(c)
		return
	}
	if !p.track(c, up) {
		reset(c)
		reset(up)
		return
	}
	defer p.untrack(c, up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && !p.holding() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		// Half-close is not needed by the database protocols: end both.
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

// track records open connections; false when the proxy was cut meanwhile.
func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *tcpProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// cut refuses new connections and resets the open ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		_ = p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		reset(c)
		delete(p.conns, c)
	}
}

// restore listens again on the proxy's address.
func (p *tcpProxy) restore() {
	p.t.Helper()
	var err error
	for range 50 { // the port may linger for a moment after the close
		var l net.Listener
		if l, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(l)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("proxy: listening again on %s: %v", p.addr, err)
}

// reset closes c with an RST rather than a FIN, as a vanished peer would.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
