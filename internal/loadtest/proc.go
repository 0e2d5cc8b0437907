package loadtest

import (
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
)

// rssSum returns the summed resident set size of the processes.
func rssSum(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		v, err := gatehouseproc.RSS(pid)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// startRSSSampler samples the summed RSS of pids every 50 ms until the
// returned function is called, which returns the highest sum seen (0
// without pids).
func startRSSSampler(pids []int) func() int64 {
	if len(pids) == 0 {
		return func() int64 { return 0 }
	}
	var (
		mu   sync.Mutex
		peak int64
	)
	sample := func() {
		if v, err := rssSum(pids); err == nil {
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
		}
	}
	sample()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		sample()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
