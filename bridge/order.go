package bridge

import (
	"context"
	"time"
)

// The reference writes a push's broadcast Chunks to every socket of the store, the pusher's own
// included, before it writes the push's Exit (PROTOCOL §5.5); and since it handles a store's
// pushes one at a time, a push refused with ServerAheadError is answered after the Chunks of the
// push that moved the head. LiveStore's client counts on the second ("the sync backend will emit
// a new pull chunk alongside the ServerAheadError", LeaderSyncProcessor) and sees the first.
//
// In the bridge the two travel separately: the Exit from the push's goroutine, live pages as the
// service hands them over. A live pull of service.Service gets them on the pushing goroutine,
// before the push returns (live_pull.go), so its Chunks are queued before the Exit by
// construction; a live pull of another SyncService gets them on the pull's goroutine. To keep
// the reference's order there too, a push's Exit waits, briefly (at most Options.PushExitDelay),
// until every live pull of its socket has sent the events up to the pushed head (success) or up
// to the store's head (ServerAheadError).

// livePosition is what the bridge knows of a pull's progress, kept under wsConn.mu.
type livePosition struct {
	// live is set once the pull has sent its backlog and is waiting for later pushes.
	live bool
	// seqNum is the highest sequence number the pull has sent, or that it skips (its cursor).
	seqNum uint64
}

// advance records that the pull r sent a page ending at seqNum (0 when the page is empty), and
// whether the page ended its backlog.
func (c *wsConn) advance(r *request, seqNum uint64, endsBacklog bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.pos.seqNum = max(r.pos.seqNum, seqNum)
	if endsBacklog {
		r.pos.live = true
	}
	c.signalProgress()
}

// signalProgress wakes the pushes waiting for live pulls to advance (awaitLiveDelivery). The
// caller holds c.mu.
func (c *wsConn) signalProgress() {
	if c.progress != nil {
		close(c.progress)
		c.progress = nil
	}
}

// awaitLiveDelivery waits until every live pull of the socket has sent the events up to seqNum,
// for at most maxWait.
func (c *wsConn) awaitLiveDelivery(ctx context.Context, seqNum uint64, maxWait time.Duration) {
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	for {
		c.mu.Lock()
		behind := false
		for _, r := range c.requests {
			if r.pos.live && r.pos.seqNum < seqNum {
				behind = true
				break
			}
		}
		if c.progress == nil {
			c.progress = make(chan struct{})
		}
		progress := c.progress
		c.mu.Unlock()
		if !behind {
			return
		}
		select {
		case <-progress:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
