package bridge

import (
	"sync/atomic"
	"time"
)

// writerPool runs sockets' writers (outQueue.runWriter) on goroutines that outlive one writer:
// a live delivery starts a writer on every socket that follows the store, and starting a
// goroutine for each, its stack then grown to the depth of a WebSocket write, took 7–15 % of the
// server's CPU in a fan-out to 200 sockets. A goroutine whose writer ended waits writerLinger
// for another and then exits, and at most maxIdleWriters wait at once, so that an idle server
// keeps none.
type writerPool struct {
	// tasks hands a writer to a waiting goroutine. It is unbuffered: a send succeeds only when a
	// goroutine waits, otherwise start starts a new one.
	tasks   chan *outQueue
	linger  time.Duration // writerLinger
	maxIdle int32         // maxIdleWriters
	idle    atomic.Int32  // goroutines waiting on tasks
}

const (
	// writerLinger is how long a writer's goroutine waits for another writer to run before it
	// exits.
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

// work runs q's writer, then the writers handed over by start, until none comes for
// writerLinger or enough goroutines wait already.
func (p *writerPool) work(q *outQueue) {
	var linger *time.Timer
	for {
		q.runWriter()
		q = nil // not kept alive while waiting
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		if linger == nil {
			linger = time.NewTimer(p.linger)
		} else {
			linger.Reset(p.linger)
		}
		select {
		case q = <-p.tasks:
			p.idle.Add(-1)
		case <-linger.C:
			p.idle.Add(-1)
			return
		}
	}
}
