package bridge

import "sync/atomic"

// outQueue is the bounded queue of frames waiting for a socket's writer goroutine. Pushing never
// blocks: a frame that does not fit is refused, and the caller closes the socket, so a client
// that does not read cannot hold up the service or grow the server's memory without bound.
type outQueue struct {
	frames   chan []byte
	bytes    atomic.Int64
	maxBytes int64
}

func newOutQueue(maxFrames, maxBytes int) *outQueue {
	return &outQueue{frames: make(chan []byte, maxFrames), maxBytes: int64(maxBytes)}
}

// push queues frame; it reports false when the queue is full (by count or by bytes). A single
// frame larger than the byte bound is accepted when nothing else is queued.
func (q *outQueue) push(frame []byte) bool {
	n := int64(len(frame))
	if total := q.bytes.Add(n); total > q.maxBytes && total != n {
		q.bytes.Add(-n)
		return false
	}
	select {
	case q.frames <- frame:
		return true
	default:
		q.bytes.Add(-n)
		return false
	}
}

// popped accounts for a frame taken from frames.
func (q *outQueue) popped(frame []byte) { q.bytes.Add(-int64(len(frame))) }
