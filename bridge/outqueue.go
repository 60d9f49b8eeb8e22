package bridge

import (
	"sync"

	"github.com/livestore-sync/livestore-sync/service/budget"
)

// outFrame is one frame waiting for a socket's writer: head, then shared, then tail, written as
// one WebSocket message. shared is memory other sockets' frames may hold too (the JSON of a live
// page, encoded once for every socket, service.Page); head and tail are the frame's own (for a
// Chunk, its start with the request id and its end). Most frames are head alone. The zero
// outFrame is the drain's marker (drain.go).
type outFrame struct {
	head, shared, tail []byte
}

// size is the frame's length on the wire, as the socket's bound and the budget count it: shared
// bytes are counted in full by every socket that holds them, so that the budget's bound holds
// even when the sockets holding a page are evicted one by one.
func (f outFrame) size() int { return len(f.head) + len(f.shared) + len(f.tail) }

func (f outFrame) isMarker() bool { return f.head == nil && f.shared == nil && f.tail == nil }

// appendTo appends the frame's bytes to dst.
func (f outFrame) appendTo(dst []byte) []byte {
	dst = append(dst, f.head...)
	dst = append(dst, f.shared...)
	return append(dst, f.tail...)
}

// outQueue is the bounded queue of frames waiting for a socket's writer goroutine. Pushing never
// blocks: a frame that does not fit is refused, and the caller closes the socket, so a client
// that does not read cannot hold up the service or grow the server's memory without bound.
//
// Its bytes count against the socket's own bound and against the server's budget for all
// clients (Options.OutgoingBudget) from when a frame is queued until it has been written. An
// empty queue keeps room for at most keptQueueFrames frames: a larger slice of frames is
// dropped when it empties, so an idle socket does not keep a buffer sized for its busiest moment.
type outQueue struct {
	// write is the writer: it takes frames with next until next reports false, or until the
	// socket closes.
	write     func()
	maxFrames int
	bytes     *budget.Account // queued and being written

	mu     sync.Mutex
	frames []outFrame // oldest first
	// writing is set while a writer goroutine runs: one is started when a frame is queued and
	// none runs, and it ends once it finds the queue empty, so that an idle socket has none.
	// stopped is set once no writer may start any more (stop).
	writing, stopped bool
	writers          sync.WaitGroup

	// space receives a signal whenever the writer has written a frame (readers waiting for room
	// wait on it).
	space chan struct{}
	// wake, when a goroutine waits for room (nextWrite), is closed, and dropped, once the writer
	// has written a frame: unlike space, it wakes every goroutine waiting (LiveStore 0.3's pull
	// pages and broadcasts, ws03.go). nil while nobody waits. Under mu.
	wake chan struct{}
}

// keptQueueFrames is the most frames an empty queue keeps room for, so that a socket that gets a
// frame now and then does not allocate the room each time.
const keptQueueFrames = 4

// pushResult is the outcome of outQueue.push.
type pushResult int

const (
	pushed       pushResult = iota
	queueFull               // the socket's own bound
	budgetRefuse            // the server's budget for all clients, this socket holding the most
)

func newOutQueue(maxFrames, maxBytes int, b *budget.Budget) *outQueue {
	return &outQueue{
		maxFrames: maxFrames,
		bytes:     budget.NewAccount(b, int64(maxBytes)),
		space:     make(chan struct{}, 1),
	}
}

// push queues frame for the member self (the socket, which the budget may evict). A single frame
// larger than the socket's byte bound is accepted when nothing else is queued. When no writer
// runs, push starts q.write on a goroutine of the writer pool (writers, pool.go): the writer.
func (q *outQueue) push(self budget.Member, frame outFrame) pushResult {
	res, claimed := q.enqueue(self, frame)
	if claimed {
		writers.start(q)
	}
	return res
}

// pushAndWrite is push for a caller that may block on the client: when no writer runs, the
// caller is the writer, and writes frame (and whatever is queued meanwhile) before it returns,
// saving a goroutine's start and wake per frame.
func (q *outQueue) pushAndWrite(self budget.Member, frame outFrame) pushResult {
	res, claimed := q.enqueue(self, frame)
	if claimed {
		q.runWriter()
	}
	return res
}

// enqueue queues frame (see push), reporting whether the caller is to run the writer (no writer
// runs, and none is stopped).
func (q *outQueue) enqueue(self budget.Member, frame outFrame) (res pushResult, claimed bool) {
	n := int64(frame.size())
	switch q.bytes.Take(self, n) {
	case budget.OverAccount:
		return queueFull, false
	case budget.OverBudget:
		return budgetRefuse, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) >= q.maxFrames {
		q.release(n)
		return queueFull, false
	}
	q.frames = append(q.frames, frame)
	if !q.writing && !q.stopped {
		q.writing = true
		q.writers.Add(1)
		return pushed, true
	}
	return pushed, false
}

// runWriter runs the writer claimed by enqueue.
func (q *outQueue) runWriter() {
	defer q.writers.Done()
	q.write()
}

// next takes the oldest queued frame for the writer, reporting false when there is none: the
// writer then ends, and the next push starts another. The frame's bytes stay counted until
// written is called for it.
func (q *outQueue) next() (outFrame, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) == 0 {
		q.writing = false
		return outFrame{}, false
	}
	return q.take(), true
}

// nextQueued is next for a writer that has taken a frame and goes on only if another is queued:
// when none is, it reports false and the writer stays the queue's, to call next again.
func (q *outQueue) nextQueued() (outFrame, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) == 0 {
		return outFrame{}, false
	}
	return q.take(), true
}

// take removes the oldest of the queued frames and returns it. The caller holds mu.
func (q *outQueue) take() outFrame {
	f := q.frames[0]
	if len(q.frames) == 1 {
		q.frames[0] = outFrame{}
		q.frames = q.frames[:0]
		if cap(q.frames) > keptQueueFrames {
			q.frames = nil // an idle socket keeps no queue sized for its busiest moment
		}
	} else {
		q.frames[0] = outFrame{}
		q.frames = q.frames[1:]
	}
	return f
}

// stop makes sure no writer starts any more and waits for the one running, if any, to end. The
// socket must be closing, so that the writer ends without waiting for the client.
func (q *outQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
	q.writers.Wait()
}

// len returns the number of queued frames.
func (q *outQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.frames)
}

// written accounts for frames taken by next of n bytes in all that have been written (or given
// up on).
func (q *outQueue) written(n int64) {
	q.release(n)
	signal(q.space)
	q.mu.Lock()
	if q.wake != nil {
		close(q.wake)
		q.wake = nil
	}
	q.mu.Unlock()
}

// nextWrite returns a channel that is closed once the writer has written another frame. Take it
// before checking the queue's state, so that no frame written in between is missed.
func (q *outQueue) nextWrite() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
	return q.wake
}

func (q *outQueue) release(n int64) { q.bytes.Give(n) }

// drop discards every queued frame, giving back its bytes. Frames pushed concurrently may stay.
func (q *outQueue) drop() {
	q.mu.Lock()
	dropped := q.frames
	q.frames = nil
	q.mu.Unlock()
	for _, f := range dropped {
		q.release(int64(f.size()))
	}
}

// belowHalf reports whether the queue, with pending more frames to come, is under half of both
// of its bounds: the read loop reads the client's next frame only then, so that a client that
// sends faster than it reads is slowed down rather than cut off.
func (q *outQueue) belowHalf(pending int) bool {
	return q.len()+pending < max(q.maxFrames/2, 1) && q.bytes.Held() < q.bytes.Max()/2
}

// signal wakes the one waiter of ch, a channel of capacity 1, without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
