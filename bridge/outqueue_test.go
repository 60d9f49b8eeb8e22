package bridge

import (
	"strconv"
	"sync"
	"testing"

	"github.com/livestore-sync/livestore-sync/service/budget"
)

// nobody is a budget member that is never evicted.
type nobody struct{}

func (nobody) Held() int64 { return 0 }
func (nobody) Evict()      {}

// TestOutQueueWriter checks the writer's life: started by a push when none runs, ending when the
// queue is empty, never two at once, none after stop, and every frame taken once, in order.
func TestOutQueueWriter(t *testing.T) {
	t.Parallel()
	q := newOutQueue(1<<20, 1<<30, budget.New(0))
	var (
		mu      sync.Mutex
		got     = map[string][]int{}
		running int
		writers int
	)
	q.write = func() {
		mu.Lock()
		running++
		writers++
		if running > 1 {
			t.Error("two writers at once")
		}
		mu.Unlock()
		for {
			f, ok := q.next()
			if !ok {
				break
			}
			// head is "pusher/n"
			s := string(f.head)
			i := len(s) - 1
			for s[i] != '/' {
				i--
			}
			n, _ := strconv.Atoi(s[i+1:])
			mu.Lock()
			got[s[:i]] = append(got[s[:i]], n)
			mu.Unlock()
			q.written(int64(f.size()))
		}
		mu.Lock()
		running--
		mu.Unlock()
	}
	const pushers, frames = 4, 500
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Go(func() {
			for n := range frames {
				if r := q.push(nobody{}, outFrame{head: []byte("p" + strconv.Itoa(p) + "/" + strconv.Itoa(n))}); r != pushed {
					t.Errorf("push: %v", r)
				}
			}
		})
	}
	wg.Wait()
	q.stop() // waits for the running writer, if any
	for p := range pushers {
		ns := got["p"+strconv.Itoa(p)]
		if len(ns) != frames {
			t.Fatalf("pusher %d: %d frames written, want %d", p, len(ns), frames)
		}
		for i, n := range ns {
			if n != i {
				t.Fatalf("pusher %d: frame %d written as the %dth", p, n, i)
			}
		}
	}
	if q.bytes.Held() != 0 || q.len() != 0 {
		t.Errorf("after everything was written: %d bytes held, %d frames queued", q.bytes.Held(), q.len())
	}
	before := writers
	if r := q.push(nobody{}, outFrame{head: []byte("late/0")}); r != pushed || q.len() != 1 {
		t.Fatalf("push after stop: %v, %d queued", r, q.len())
	}
	q.stop()
	if writers != before {
		t.Error("a writer started after stop")
	}
	q.drop()
	if q.bytes.Held() != 0 {
		t.Errorf("after drop: %d bytes held", q.bytes.Held())
	}
}
