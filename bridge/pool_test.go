package bridge

import (
	"testing"
	"time"
)

// queueSignalling returns a queue whose writer sends on ran each time it runs, with its run
// claimed (as enqueue claims it).
func queueSignalling(ran chan<- string, name string) *outQueue {
	q := &outQueue{write: func() { ran <- name }}
	q.writers.Add(1)
	return q
}

// TestGoPool checks that a writer runs on a new goroutine when none waits, that the
// goroutine then waits for the next writer and runs it, that it exits once the pool has handed
// none a writer for a linger (the sweeper), and that no more than maxIdle goroutines wait.
func TestGoPool(t *testing.T) {
	t.Parallel()
	sweepEnded := make(chan struct{}, 10)
	p := newGoPool((*outQueue).runWriter)
	p.linger, p.maxIdle = 50*time.Millisecond, 1
	p.onSweepEnd = func() { sweepEnded <- struct{}{} }
	ran := make(chan string, 10)
	exited := make(chan struct{})
	bound := time.After(10 * time.Second) // against hanging, not a measurement

	go func() { p.work(queueSignalling(ran, "first")); close(exited) }()
	// A blocking send completes only when the goroutine waits for a writer: it is reused.
	select {
	case p.tasks <- queueSignalling(ran, "second"):
	case <-bound:
		t.Fatal("the goroutine did not wait for another writer")
	}
	if !p.sweeps.Load() {
		t.Fatal("a goroutine waited without the sweeper running")
	}
	for _, want := range []string{"first", "second"} {
		select {
		case got := <-ran:
			if got != want {
				t.Fatalf("writer %q ran, want %q", got, want)
			}
		case <-bound:
			t.Fatalf("writer %q did not run", want)
		}
	}
	select {
	case <-exited: // swept, a linger after the last writer was handed over
	case <-bound:
		t.Fatal("the idle goroutine did not exit")
	}
	if n := p.idle.Load(); n != 0 {
		t.Fatalf("%d goroutines counted idle after all exited", n)
	}
	select { // with none waiting, the sweeper stops too
	case <-sweepEnded:
	case <-bound:
		t.Fatal("the sweeper did not stop once no goroutine waited")
	}
	if p.sweeps.Load() {
		t.Fatal("the sweeper ended still marked running")
	}

	// With none waiting, start runs the writer on a new goroutine.
	p.start(queueSignalling(ran, "third"))
	select {
	case got := <-ran:
		if got != "third" {
			t.Fatalf("writer %q ran, want third", got)
		}
	case <-bound:
		t.Fatal("start did not run the writer")
	}

	// Beyond maxIdle, a goroutine whose writer ended exits at once.
	p.idle.Add(1) // as if one waited already
	done := make(chan struct{})
	go func() { p.work(queueSignalling(ran, "fourth")); close(done) }()
	select {
	case <-done:
	case <-bound:
		t.Fatal("a goroutine beyond maxIdle waited")
	}
	<-ran
	p.idle.Add(-1)
}
