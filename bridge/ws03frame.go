package bridge

import (
	"encoding/json"
	"strconv"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
)

// The frames of LiveStore 0.3's WebSocket protocol (@livestore/sync-cf 0.3.1's WSMessage
// schemas): JSON text, one message a frame, "_tag" first. Decoding does not depend on key order
// and ignores unknown keys, as Effect Schema does; encoding writes the keys in the order 0.3.1's
// server writes them.

// Tags of the client's messages.
const (
	tag03PullReq       = "WSMessage.PullReq"
	tag03PushReq       = "WSMessage.PushReq"
	tag03Ping          = "WSMessage.Ping"
	tag03AdminInfoReq  = "WSMessage.AdminInfoReq"
	tag03AdminResetReq = "WSMessage.AdminResetRoomReq"
)

// message03 is a decoded client message.
type message03 struct {
	// Tag is one of the tag03 constants.
	Tag string
	// RequestID is the message's requestId ("ping" for a Ping).
	RequestID string
	// Cursor is a PullReq's cursor: the seqNum of the last event the client has; nil when absent
	// (from the beginning, like 0).
	Cursor *uint64
	// Batch is a PushReq's events.
	Batch []*syncv1.Event
	// AdminSecret is the secret of an admin message.
	AdminSecret string
}

// decodeError03 says why a client frame is not a message. RequestID is the frame's requestId when
// it has one that is a string, so that the client can be answered with a WSMessage.Error.
type decodeError03 struct {
	RequestID string
	HasID     bool
	Msg       string
}

func (e *decodeError03) Error() string { return e.Msg }

// decodeMessage03 decodes one client frame.
func decodeMessage03(data []byte) (message03, *decodeError03) {
	var obj jsonObject
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return message03{}, &decodeError03{Msg: "not a JSON object"}
	}
	derr := &decodeError03{}
	if raw, ok := obj["requestId"]; ok {
		if id, perr := asString(raw); perr == nil {
			derr.RequestID, derr.HasID = id, true
		}
	}
	fail := func(what string, perr *payloadError) (message03, *decodeError03) {
		derr.Msg = "invalid " + what + ": " + perr.Error()
		return message03{}, derr
	}
	tag, perr := obj.string("_tag")
	if perr != nil {
		return fail("message", perr)
	}
	m := message03{Tag: tag}
	switch tag {
	case tag03Ping:
		// The schema's requestId is the literal "ping"; any Ping is answered (the original's
		// exact-text auto-response fails one whose keys are in another order).
		m.RequestID = "ping"
		return m, nil
	case tag03PullReq, tag03PushReq, tag03AdminInfoReq, tag03AdminResetReq:
	default:
		derr.Msg = "unknown message tag " + strconv.Quote(shorten(tag, 64))
		return message03{}, derr
	}
	if m.RequestID, perr = obj.string("requestId"); perr != nil {
		return fail(tag, perr)
	}
	switch tag {
	case tag03PullReq:
		if raw, ok := obj["cursor"]; ok {
			n, perr := asSeqNum(raw)
			if perr != nil {
				return fail(tag, perr.at(keyStep("cursor")))
			}
			m.Cursor = &n
		}
	case tag03PushReq:
		raw, perr := obj.required("batch")
		if perr != nil {
			return fail(tag, perr)
		}
		if m.Batch, perr = decodeBatch(raw); perr != nil {
			return fail(tag, perr.at(keyStep("batch")))
		}
	default:
		if m.AdminSecret, perr = obj.string("adminSecret"); perr != nil {
			return fail(tag, perr)
		}
	}
	return m, nil
}

// Contexts of a PullRes: the answer to a PullReq, or the broadcast of a push.
const (
	context03Pull = "pull"
	context03Push = "push"
)

// appendPullRes03 appends
//
//	{"_tag":"WSMessage.PullRes","batch":[…],"requestId":{"context":…,"requestId":…},"remaining":n}
//
// with the events of page, each {"eventEncoded":<event>,"metadata":{"_tag":"Some","value":{"createdAt":…}}}.
func appendPullRes03(dst []byte, page *syncv1.PullResponse, context, requestID string, remaining uint64) []byte {
	dst = append(dst, `{"_tag":"WSMessage.PullRes","batch":[`...)
	for i, p := range page.GetBatch() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"eventEncoded":`...)
		dst = eventjson.AppendEvent(dst, p.GetEvent())
		if ts := p.GetMetadata().GetCreatedAt(); ts != nil {
			dst = append(dst, `,"metadata":{"_tag":"Some","value":{"createdAt":"`...)
			dst = ts.AsTime().UTC().AppendFormat(dst, eventjson.TimeLayout)
			dst = append(dst, `"}}}`...)
		} else {
			dst = append(dst, `,"metadata":{"_tag":"None"}}`...)
		}
	}
	dst = append(dst, `],"requestId":{"context":`...)
	dst = eventjson.AppendString(dst, context)
	dst = append(dst, `,"requestId":`...)
	dst = eventjson.AppendString(dst, requestID)
	dst = append(dst, `},"remaining":`...)
	dst = strconv.AppendUint(dst, remaining, 10)
	return append(dst, '}')
}

// appendTagged03 appends {"_tag":<tag>,"requestId":<id>} and the rest, which starts with a comma
// when not empty.
func appendTagged03(dst []byte, tag, requestID string, rest func([]byte) []byte) []byte {
	dst = append(dst, `{"_tag":`...)
	dst = eventjson.AppendString(dst, tag)
	dst = append(dst, `,"requestId":`...)
	dst = eventjson.AppendString(dst, requestID)
	if rest != nil {
		dst = rest(dst)
	}
	return append(dst, '}')
}

func pushAck03(requestID string) []byte {
	return appendTagged03(nil, "WSMessage.PushAck", requestID, nil)
}

func error03(requestID, message string) []byte {
	return appendTagged03(nil, "WSMessage.Error", requestID, func(dst []byte) []byte {
		dst = append(dst, `,"message":`...)
		return eventjson.AppendString(dst, message)
	})
}

// pong03 answers every Ping.
var pong03 = []byte(`{"_tag":"WSMessage.Pong","requestId":"ping"}`)

func adminInfoRes03(requestID, durableObjectID string) []byte {
	return appendTagged03(nil, "WSMessage.AdminInfoRes", requestID, func(dst []byte) []byte {
		dst = append(dst, `,"info":{"durableObjectId":`...)
		dst = eventjson.AppendString(dst, durableObjectID)
		return append(dst, '}')
	})
}

func adminResetRoomRes03(requestID string) []byte {
	return appendTagged03(nil, "WSMessage.AdminResetRoomRes", requestID, nil)
}

// remaining03 is the remaining of a PullRes for a page of a pull: the events after it (the
// service counts them exactly). A page followed by an unknown number of events says 1, so that
// the client does not take it for the last (0 means caught up to 0.3.1's client).
func remaining03(page *syncv1.PullResponse) uint64 {
	switch k := page.GetPageInfo().GetKind().(type) {
	case *syncv1.PageInfo_MoreKnown_:
		return k.MoreKnown.GetRemaining()
	case *syncv1.PageInfo_MoreUnknown_:
		return 1
	}
	return 0
}
