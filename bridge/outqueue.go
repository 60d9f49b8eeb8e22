package bridge

import "github.com/livestore-sync/livestore-sync/service/budget"

// outQueue is the bounded queue of frames waiting for a socket's writer goroutine. Pushing never
// blocks: a frame that does not fit is refused, and the caller closes the socket, so a client
// that does not read cannot hold up the service or grow the server's memory without bound.
//
// Its bytes count against the socket's own bound and against the server's budget for all
// clients (Options.OutgoingBudget) from when a frame is queued until it has been written.
type outQueue struct {
	frames chan []byte
	bytes  *budget.Account // queued and being written
	// space receives a signal whenever the writer has written a frame (readers waiting for room
	// wait on it).
	space chan struct{}
}

// pushResult is the outcome of outQueue.push.
type pushResult int

const (
	pushed       pushResult = iota
	queueFull               // the socket's own bound
	budgetRefuse            // the server's budget for all clients, this socket holding the most
)

func newOutQueue(maxFrames, maxBytes int, b *budget.Budget) *outQueue {
	return &outQueue{frames: make(chan []byte, maxFrames), bytes: budget.NewAccount(b, int64(maxBytes)), space: make(chan struct{}, 1)}
}

// push queues frame for the member self (the socket, which the budget may evict). A single frame
// larger than the socket's byte bound is accepted when nothing else is queued.
func (q *outQueue) push(self budget.Member, frame []byte) pushResult {
	n := int64(len(frame))
	switch q.bytes.Take(self, n) {
	case budget.OverAccount:
		return queueFull
	case budget.OverBudget:
		return budgetRefuse
	}
	select {
	case q.frames <- frame:
		return pushed
	default:
		q.release(n)
		return queueFull
	}
}

// written accounts for a frame taken from frames that has been written (or given up on).
func (q *outQueue) written(frame []byte) {
	q.release(int64(len(frame)))
	select {
	case q.space <- struct{}{}:
	default:
	}
}

func (q *outQueue) release(n int64) { q.bytes.Give(n) }

// drop discards every queued frame, giving back its bytes. Frames pushed concurrently may stay.
func (q *outQueue) drop() {
	for {
		select {
		case f := <-q.frames:
			q.release(int64(len(f)))
		default:
			return
		}
	}
}

// belowHalf reports whether the queue, with pending more frames to come, is under half of both
// of its bounds: the read loop reads the client's next frame only then, so that a client that
// sends faster than it reads is slowed down rather than cut off.
func (q *outQueue) belowHalf(pending int) bool {
	return len(q.frames)+pending < max(cap(q.frames)/2, 1) && q.bytes.Held() < q.bytes.Max()/2
}
