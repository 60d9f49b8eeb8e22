package bridge

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"sync"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
)

// maxRecentPushes03 bounds the request ids of LiveStore 0.3 pushes the bridge remembers, for the
// broadcasts of those pushes to the store's other 0.3 sockets; each takes at most about 150 bytes
// (a digest and an id of at most maxRememberedID03Bytes).
const maxRecentPushes03 = 4096

// maxRememberedID03Bytes bounds a remembered request id (0.3.1's client uses nanoids of 21
// characters); a push with a longer one is broadcast with an id of the server's.
const maxRememberedID03Bytes = 64

// recentPushes03 remembers the requestId of recent 0.3 pushes by their store and first event, so
// that the broadcast of a push carries the pusher's requestId on every socket, as the original's
// does. A push made over another transport, or one forgotten already, is broadcast with an id that
// the server makes up (broadcastID03); the 0.3.1 client does not read the id of a broadcast.
type recentPushes03 struct {
	mu    sync.Mutex
	ids   map[pushKey03]string
	order []pushKey03 // ring of the keys in ids, oldest at next
	next  int
}

// pushKey03 identifies a push by a digest of its store and first event (client-chosen strings of
// any length are not kept).
type pushKey03 [sha256.Size]byte

func keyOf03(store string, e *syncv1.Event) pushKey03 {
	h := sha256.New()
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], e.GetSeqNum())
	binary.BigEndian.PutUint64(n[8:], e.GetParentSeqNum())
	h.Write(n[:])
	for _, s := range []string{store, e.GetClientId(), e.GetSessionId(), e.GetName()} {
		var l [8]byte
		binary.BigEndian.PutUint64(l[:], uint64(len(s)))
		h.Write(l[:])
		h.Write([]byte(s))
	}
	var k pushKey03
	h.Sum(k[:0])
	return k
}

func newRecentPushes03() *recentPushes03 {
	return &recentPushes03{ids: make(map[pushKey03]string)}
}

// remember records the requestId of a push whose first event is first.
func (r *recentPushes03) remember(store string, first *syncv1.Event, requestID string) {
	if len(requestID) > maxRememberedID03Bytes {
		return
	}
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
