package bridge

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"go.opentelemetry.io/otel/trace"
)

// Effect RPC message tags sent by clients (PROTOCOL §2.1).
const (
	tagRequest   = "Request"
	tagAck       = "Ack"
	tagInterrupt = "Interrupt"
	tagPing      = "Ping"
	tagEof       = "Eof"
)

// RPC tags of the LiveStore sync groups (PROTOCOL §3): SyncWsRpc for the WebSocket transport,
// SyncHttpRpc for the HTTP transport (http.go).
const (
	rpcWsPull   = "SyncWsRpc.Pull"
	rpcWsPush   = "SyncWsRpc.Push"
	rpcHTTPPull = "SyncHttpRpc.Pull"
	rpcHTTPPush = "SyncHttpRpc.Push"
	rpcHTTPPing = "SyncHttpRpc.Ping"
)

// clientMessage is one decoded client message. Which fields are set depends on Tag.
type clientMessage struct {
	// Tag is the message's _tag, rendered as JavaScript would print it in a template string:
	// the string itself, "undefined" when missing, the JSON text for other values.
	Tag string
	// RPC is a Request's "tag", rendered like Tag but "" when missing (as the reference does).
	RPC string
	// ID is a Request's "id", or an Ack's or Interrupt's "requestId", in canonical decimal form;
	// "" when missing or not a decimal integer string.
	ID string
	// RawID is the id as sent (JSON text), for error messages.
	RawID string
	// Payload is a Request's payload, as sent.
	Payload json.RawMessage
	// PayloadMembers are the members of Payload when it is an object, split with the frame
	// (splitObjectWith); nil when it was not split so (decodeCommon then splits Payload).
	PayloadMembers jsonObject
	// Batch is the payload's batch (PayloadMembers["batch"]), decoded with the frame when it has
	// the form LiveStore's client sends (decodeBatchFastAt); nil otherwise.
	Batch []*syncv1.Event
	// Parent is the caller's span named by a Request's traceId, spanId and sampled fields
	// (trace.go); invalid when they are missing or malformed.
	Parent trace.SpanContext
}

// decodeClientMessage decodes one client frame. A frame that is not JSON gives a defect value
// to send as a top-level Defect, like the reference (a SyntaxError).
func decodeClientMessage(data []byte) (clientMessage, *defect) {
	fields, payload, ok := map[string]json.RawMessage(nil), map[string]json.RawMessage(nil), false
	var batch []*syncv1.Event
	batchAt := -1 // where in data batch was decoded from
	if eventjson.Valid(data) {
		// Its values are parts of data; the payload's batch, when it has the form LiveStore's
		// client sends, is decoded on the way (the last one, as with every key).
		fields, payload, ok = splitObjectWith(data, "payload", func(key string, raw []byte, i int) (int, bool) {
			if key != "batch" {
				return 0, false
			}
			var end int
			var fast bool
			if batch, end, fast = decodeBatchFastAt(raw, i); fast {
				batchAt = i
			}
			return end, fast
		})
	}
	if !ok {
		if err := json.Unmarshal(data, &fields); err != nil {
			// Unmarshal checks the whole text before decoding: a syntax error means it is not JSON.
			if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
				return clientMessage{}, &defect{Name: "SyntaxError", Message: jsonSyntaxMessage(data, err)}
			}
			// Valid JSON but not an object: the reference reads its _tag as undefined.
			return clientMessage{Tag: "undefined"}, nil
		}
	}
	m := clientMessage{Tag: jsTemplateString(fields["_tag"], "undefined")}
	switch m.Tag {
	case tagRequest:
		m.RPC = jsTemplateString(fields["tag"], "")
		m.RawID = jsTemplateString(fields["id"], "undefined")
		m.ID = canonicalRequestID(fields["id"])
		m.Payload, m.PayloadMembers = fields["payload"], payload
		// A payload or a batch that came again after the one decoded wins over it.
		if b := payload["batch"]; batchAt >= 0 && len(b) > 0 && &b[0] == &data[batchAt] {
			m.Batch = batch
		}
		m.Parent = requestParent(fields)
	case tagAck, tagInterrupt:
		m.RawID = jsTemplateString(fields["requestId"], "undefined")
		m.ID = canonicalRequestID(fields["requestId"])
	}
	return m, nil
}

// rpcGroup is the set of RPCs one transport serves.
type rpcGroup struct {
	pull, push string
	// ping is the Ping RPC's tag, "" when the group has none (WebSocket uses the protocol's Ping).
	ping string
	// pullLive says whether a Pull payload carries the required "live" field.
	pullLive bool
}

var (
	wsRPCs   = rpcGroup{pull: rpcWsPull, push: rpcWsPush, pullLive: true}
	httpRPCs = rpcGroup{pull: rpcHTTPPull, push: rpcHTTPPush, ping: rpcHTTPPing}
)

// rpcCall is a decoded RPC, ready to run: exactly one of pull, push and ping is set.
type rpcCall struct {
	id   string
	rpc  string
	pull *syncv1.PullRequest
	push *syncv1.PushRequest
	ping *syncv1.PingRequest
}

// decodeRequest decodes a Request message of group g like the reference checks it: RPC tag (an
// unknown one is a top-level Defect), then id (the reference wedges on a non-numeric one; the
// bridge answers with a Defect), then payload (a mismatch is an Exit with Die). When the request
// cannot run, reply is the message that answers it and reason says why, for the log (never
// quoting the payload). The URL's store id is authoritative; the client payload is the body's,
// else the URL's.
func decodeRequest(m clientMessage, sr syncQuery, g rpcGroup) (call rpcCall, reply []byte, reason string) {
	if m.RPC == "" || (m.RPC != g.pull && m.RPC != g.push && m.RPC != g.ping) {
		return rpcCall{}, appendDefectMessage(nil, defect{Message: "Unknown request tag: " + m.RPC}), "unknown request tag " + logQuote(m.RPC)
	}
	if m.ID == "" {
		return rpcCall{}, appendDefectMessage(nil, defect{Message: "Invalid request id: " + m.RawID}), "invalid request id"
	}
	call.id, call.rpc = m.ID, m.RPC
	var err error
	switch m.RPC {
	case g.pull:
		var payload json.RawMessage
		if call.pull, payload, err = decodePullPayload(m.Payload, m.PayloadMembers, g.pullLive); err == nil {
			call.pull.StoreId = sr.StoreID
			call.pull.Payload = clientPayloadValue(payload, sr.Payload)
		}
	case g.push:
		var payload json.RawMessage
		if call.push, payload, err = decodePushPayload(m.Payload, m.PayloadMembers, m.Batch); err == nil {
			call.push.StoreId = sr.StoreID
			call.push.Payload = clientPayloadValue(payload, sr.Payload)
		}
	case g.ping:
		var payload json.RawMessage
		if payload, err = decodePingPayload(m.Payload, m.PayloadMembers); err == nil {
			call.ping = &syncv1.PingRequest{StoreId: sr.StoreID, Payload: clientPayloadValue(payload, sr.Payload)}
		}
	}
	if err != nil {
		reason = "invalid payload"
		var perr *payloadError
		if errors.As(err, &perr) && len(perr.path) > 0 {
			reason += " at " + strings.Join(perr.path, "")
		}
		return rpcCall{}, appendExit(nil, m.ID, exitDie(defect{Message: formatPayloadError(m.RPC, err)})), reason
	}
	return call, nil, ""
}

// logQuote quotes a client-chosen string for a log line, shortened.
func logQuote(s string) string {
	return strconv.Quote(shorten(s, 64))
}
