package bridge

import (
	"sync/atomic"
	"time"
)

// goPool runs tasks on goroutines that outlive one task. A goroutine started for each task
// starts with a small stack and grows it (copying it each time) to the depth the task reaches:
// on the server's hot paths that cost more than the task's own work. A live delivery starts a
// writer on every socket that follows the store (7–15 % of the server's CPU in a fan-out to 200
// sockets when each writer had a goroutine of its own), and every push frame is decoded, and its
// push run, on a goroutine apart from the socket's read loop (stack growth 3 % of the CPU of
// pushes to 20 stores).
//
// A goroutine whose task ended waits for another; once the pool has handed none to a waiting
// goroutine for a linger (a quarter more at most), the waiting goroutines exit, and at most
// maxIdle wait at once, so that an idle server keeps none. One sweeper per pool (sweep),
// running only while goroutines wait, keeps the time, instead of a timer per goroutine reset
// after every task (4 % of a fan-out's CPU).
type goPool[T any] struct {
	run func(*T)
	// tasks hands a task to a waiting goroutine, or nil to make it exit. It is unbuffered: a
	// send succeeds only when a goroutine waits, otherwise start starts a new one.
	tasks   chan *T
	linger  time.Duration // poolLinger
	maxIdle int32         // maxIdlePerPool
	idle    atomic.Int32  // goroutines waiting on tasks
	used    atomic.Bool   // a waiting goroutine was handed a task since the sweeper last looked
	sweeps  atomic.Bool   // the sweeper runs
	// onSweepEnd, when set (tests), is called each time the sweeper returns.
	onSweepEnd func()
}

const (
	// poolLinger is how long a pool's waiting goroutines wait, without any of them being
	// handed a task, before they exit.
	poolLinger = 100 * time.Millisecond
	// maxIdlePerPool bounds the goroutines waiting for a task in each pool (two pools: writers,
	// frameHandlers).
	maxIdlePerPool = 256
)

// newGoPool returns a pool that runs its tasks with run.
func newGoPool[T any](run func(*T)) *goPool[T] {
	return &goPool[T]{run: run, tasks: make(chan *T), linger: poolLinger, maxIdle: maxIdlePerPool}
}

// The process's pools, shared by every socket of every Bridge.
var (
	// writers runs sockets' writers, claimed by outQueue.enqueue.
	writers = newGoPool((*outQueue).runWriter)
	// frameHandlers decodes the frames that are not Acks or Pings (wsConn.handleFrame), and
	// runs the pushes they start.
	frameHandlers = newGoPool(runFrameTask)
)

// start runs task on a waiting goroutine or a new one.
func (p *goPool[T]) start(task *T) {
	select {
	case p.tasks <- task:
	default:
		go p.work(task)
	}
}

// work runs task, then the tasks handed over by start, until the sweeper ends it or enough
// goroutines wait already.
func (p *goPool[T]) work(task *T) {
	for {
		p.run(task)
		task = nil // not kept alive while waiting
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		if !p.sweeps.Load() && p.sweeps.CompareAndSwap(false, true) {
			go p.sweep()
		}
		task = <-p.tasks
		p.idle.Add(-1)
		if task == nil {
			return
		}
		if !p.used.Load() {
			p.used.Store(true)
		}
	}
}

// sweep ends the waiting goroutines once a linger has passed (a quarter more at most) in which
// none was handed a task, and returns when none waits.
func (p *goPool[T]) sweep() {
	if p.onSweepEnd != nil {
		defer p.onSweepEnd()
	}
	tick := time.NewTicker(p.linger / sweepsPerLinger)
	defer tick.Stop()
	unused := 0 // ticks in a row in which no waiting goroutine was handed a task
	for range tick.C {
		if p.used.Swap(false) {
			unused = 0
		} else if unused++; unused >= sweepsPerLinger {
		retire:
			for n := p.idle.Load(); n > 0; n-- {
				select {
				case p.tasks <- nil:
				default: // the rest are between their task and waiting: next tick
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

// sweepsPerLinger is how often the sweeper looks per linger.
const sweepsPerLinger = 4
