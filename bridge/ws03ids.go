package bridge

import (
	"strconv"
	"sync"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
)

// maxRecentPushes03 bounds the request ids of LiveStore 0.3 pushes the bridge remembers, for the
// broadcasts of those pushes to the store's other 0.3 sockets (about 150 bytes each).
const maxRecentPushes03 = 4096

// recentPushes03 remembers the requestId of recent 0.3 pushes by their first event, so that the
// broadcast of a push carries the pusher's requestId on every socket, as the original's does. A
// push made over another transport, or one forgotten already, is broadcast with an id that the
// server makes up (broadcastID03); the 0.3 client does not read the id of a broadcast.
type recentPushes03 struct {
	mu    sync.Mutex
	ids   map[pushKey03]string
	order []pushKey03 // ring of the keys in ids, oldest at next
	next  int
}

// pushKey03 identifies a push by its store and first event.
type pushKey03 struct {
	store           string
	seqNum          uint64
	client, session string
	name            string
	parentSeqNum    uint64
}

func keyOf03(store string, e *syncv1.Event) pushKey03 {
	return pushKey03{store: store, seqNum: e.GetSeqNum(), client: e.GetClientId(), session: e.GetSessionId(),
		name: e.GetName(), parentSeqNum: e.GetParentSeqNum()}
}

func newRecentPushes03() *recentPushes03 {
	return &recentPushes03{ids: make(map[pushKey03]string)}
}

// remember records the requestId of a push whose first event is first.
func (r *recentPushes03) remember(store string, first *syncv1.Event, requestID string) {
	k := keyOf03(store, first)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ids[k]; ok {
		r.ids[k] = requestID
		return
	}
	if len(r.order) < maxRecentPushes03 {
		r.order = append(r.order, k)
	} else {
		delete(r.ids, r.order[r.next])
		r.order[r.next] = k
		r.next = (r.next + 1) % maxRecentPushes03
	}
	r.ids[k] = requestID
}

// lookup returns the requestId of the push whose first event is e, if remembered.
func (r *recentPushes03) lookup(store string, e *syncv1.Event) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.ids[keyOf03(store, e)]
	return id, ok
}

// broadcastID03 is the requestId of the broadcast of events the bridge knows no 0.3 request for:
// pushed over another transport (0.4 WebSocket or HTTP, Connect, gRPC), or long ago.
func broadcastID03(first *syncv1.Event) string {
	return "livestore-sync-e" + strconv.FormatUint(first.GetSeqNum(), 10)
}
