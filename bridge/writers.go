package bridge

import (
	"sync/atomic"
	"time"
)

// writerPool runs sockets' writers (outQueue.runWriter) on goroutines that outlive one writer:
// a live delivery starts a writer on every socket that follows the store, and starting a
// goroutine for each, its stack then grown to the depth of a WebSocket write, took 7–15 % of the
// server's CPU in a fan-out to 200 sockets. A goroutine whose writer ended waits for another;
// once the pool has handed none to a waiting goroutine for a writerLinger (a quarter more at
// most), the waiting goroutines exit, and at most maxIdleWriters wait at once, so that an idle
// server keeps none. One sweeper per pool (sweep), running only while goroutines wait, keeps the
// time, instead of a timer per goroutine reset after every writer (4 % of a fan-out's CPU).
type writerPool struct {
	// tasks hands a writer to a waiting goroutine, or nil to make it exit. It is unbuffered: a
	// send succeeds only when a goroutine waits, otherwise start starts a new one.
	tasks   chan *outQueue
	linger  time.Duration // writerLinger
	maxIdle int32         // maxIdleWriters
	idle    atomic.Int32  // goroutines waiting on tasks
	used    atomic.Bool   // a waiting goroutine was handed a writer since the sweeper last looked
	sweeps  atomic.Bool   // the sweeper runs
	// onSweepEnd, when set (tests), is called each time the sweeper returns.
	onSweepEnd func()
}

const (
	// writerLinger is how long the pool's waiting goroutines wait, without any of them being
	// handed a writer, before they exit.
	writerLinger = 100 * time.Millisecond
	// maxIdleWriters bounds the goroutines waiting for a writer to run.
	maxIdleWriters = 256
)

// writers is the process's pool: every socket of every Bridge starts its writers there.
var writers = writerPool{tasks: make(chan *outQueue), linger: writerLinger, maxIdle: maxIdleWriters}

// start runs q's writer, claimed by q.enqueue, on a waiting goroutine or a new one.
func (p *writerPool) start(q *outQueue) {
	select {
	case p.tasks <- q:
	default:
		go p.work(q)
	}
}

// work runs q's writer, then the writers handed over by start, until the sweeper ends it or
// enough goroutines wait already.
func (p *writerPool) work(q *outQueue) {
	for {
		q.runWriter()
		q = nil // not kept alive while waiting
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		if !p.sweeps.Load() && p.sweeps.CompareAndSwap(false, true) {
			go p.sweep()
		}
		q = <-p.tasks
		p.idle.Add(-1)
		if q == nil {
			return
		}
		if !p.used.Load() {
			p.used.Store(true)
		}
	}
}

// sweep ends the waiting goroutines once a writerLinger has passed (a quarter more at most) in
// which none was handed a writer, and returns when none waits.
func (p *writerPool) sweep() {
	if p.onSweepEnd != nil {
		defer p.onSweepEnd()
	}
	tick := time.NewTicker(p.linger / sweepsPerLinger)
	defer tick.Stop()
	unused := 0 // ticks in a row in which no waiting goroutine was handed a writer
	for range tick.C {
		if p.used.Swap(false) {
			unused = 0
		} else if unused++; unused >= sweepsPerLinger {
		retire:
			for n := p.idle.Load(); n > 0; n-- {
				select {
				case p.tasks <- nil:
				default: // the rest are between their writer and waiting: next tick
					break retire
				}
			}
		}
		if p.idle.Load() > 0 {
			continue
		}
		p.sweeps.Store(false)
		// A goroutine that began to wait meanwhile saw the sweeper running and started none.
		if p.idle.Load() == 0 || !p.sweeps.CompareAndSwap(false, true) {
			return
		}
	}
}

// sweepsPerLinger is how often the sweeper looks per writerLinger.
const sweepsPerLinger = 4
