package bridge

import "bytes"

// The frames a LiveStore client sends most, an Ack for every Chunk of a pull and a Ping every
// few seconds, always come in the one form JSON.stringify gives them. decodeFastFrame recognises
// exactly that form without allocating; any other frame, even one that means the same (spaces,
// other key order, escapes, an id with leading zeros), takes the general decoder
// (decodeClientMessage), so the answer to every frame is what the general decoder gives.

// fastFrame is the kind of a frame decodeFastFrame recognised.
type fastFrame int

const (
	fastNone fastFrame = iota // not one of the forms below: use decodeClientMessage
	fastPing                  // {"_tag":"Ping"}
	fastAck                   // {"_tag":"Ack","requestId":"<id>"}
)

var (
	fastPingFrame = []byte(`{"_tag":"Ping"}`)
	fastAckStart  = []byte(`{"_tag":"Ack","requestId":"`)
	fastAckEnd    = []byte(`"}`)
)

// decodeFastFrame reports which of the fast forms data is, and for an Ack the request id, a
// part of data in canonical form (canonicalRequestID): 1 to 64 decimal digits without leading
// zeros, or "0".
func decodeFastFrame(data []byte) (fastFrame, []byte) {
	if bytes.Equal(data, fastPingFrame) {
		return fastPing, nil
	}
	if len(data) < len(fastAckStart)+len(fastAckEnd) || // the two may overlap: {"_tag":"Ack","requestId":"}
		!bytes.HasPrefix(data, fastAckStart) || !bytes.HasSuffix(data, fastAckEnd) {
		return fastNone, nil
	}
	id := data[len(fastAckStart) : len(data)-len(fastAckEnd)]
	if len(id) == 0 || len(id) > 64 || (id[0] == '0' && len(id) > 1) {
		return fastNone, nil
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return fastNone, nil
		}
	}
	return fastAck, id
}
