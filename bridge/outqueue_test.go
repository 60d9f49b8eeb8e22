package bridge

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/livestore-sync/livestore-sync/service/budget"
)

// nobody is a budget member that is never evicted.
type nobody struct{}

func (nobody) Held() int64 { return 0 }
func (nobody) Evict()      {}

// TestOutQueueWriter checks the writer's life: started by a push when none runs (on a goroutine
// of its own, or on the pusher's with pushAndWrite), ending when the queue is empty, never two at
// once, none after stop, and every frame taken once, in order.
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
		writers++
		mu.Unlock()
		for {
			f, ok := q.next()
			if !ok {
				break // a writer does nothing once next has reported the queue empty
			}
			mu.Lock()
			running++ // from taking a frame to having written it
			if running > 1 {
				t.Error("two writers at once")
			}
			mu.Unlock()
			// head is "pusher/n"
			s := string(f.head)
			i := len(s) - 1
			for s[i] != '/' {
				i--
			}
			n, _ := strconv.Atoi(s[i+1:])
			mu.Lock()
			got[s[:i]] = append(got[s[:i]], n)
			running--
			mu.Unlock()
			q.written(int64(f.size()))
		}
	}
	const pushers, frames = 4, 500
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Go(func() {
			for n := range frames {
				push := q.push
				if p%2 == 1 {
					push = q.pushAndWrite
				}
				if r := push(nobody{}, outFrame{head: []byte("p" + strconv.Itoa(p) + "/" + strconv.Itoa(n))}); r != pushed {
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

// TestPushAndWriteWritesInline: on a queue with no writer, pushAndWrite writes the frame on the
// caller's goroutine before it returns; while a writer runs, it only queues the frame for it.
func TestPushAndWriteWritesInline(t *testing.T) {
	t.Parallel()
	q := newOutQueue(16, 1<<20, budget.New(0))
	var written []string // only ever appended by the one writer
	hold, atHold := make(chan struct{}), make(chan struct{})
	q.write = func() {
		for {
			f, ok := q.next()
			if !ok {
				return
			}
			if string(f.head) == "held" {
				close(atHold)
				<-hold
			}
			written = append(written, string(f.head))
			q.written(int64(f.size()))
		}
	}
	if q.pushAndWrite(nobody{}, outFrame{head: []byte("a")}) != pushed {
		t.Fatal("push refused")
	}
	if len(written) != 1 || written[0] != "a" {
		t.Fatalf("written %v after pushAndWrite returned, want [a]", written)
	}
	q.push(nobody{}, outFrame{head: []byte("held")}) // a writer goroutine, held on this frame
	<-atHold
	q.pushAndWrite(nobody{}, outFrame{head: []byte("b")}) // returns: the held writer is the writer
	if n := q.len(); n != 1 {
		t.Fatalf("%d frames queued, want b", n)
	}
	close(hold)
	q.stop()
	if got := strings.Join(written, ","); got != "a,held,b" {
		t.Fatalf("written %s, want a,held,b", got)
	}
}
