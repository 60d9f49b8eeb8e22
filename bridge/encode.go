package bridge

import (
	"strconv"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
)

// This file writes the server's Effect RPC messages (PROTOCOL §2.2, §4) byte for byte as the
// reference writes them: compact JSON, keys in the reference's order, strings escaped as
// JavaScript's JSON.stringify escapes them.

// defect is a Schema.Defect value: an Error ({"name":…,"message":…}) when Name is set, else the
// plain string Message.
type defect struct {
	Name    string
	Message string
}

func appendDefect(dst []byte, d defect) []byte {
	if d.Name == "" {
		return eventjson.AppendString(dst, d.Message)
	}
	dst = append(dst, `{"name":`...)
	dst = eventjson.AppendString(dst, d.Name)
	dst = append(dst, `,"message":`...)
	dst = eventjson.AppendString(dst, d.Message)
	return append(dst, '}')
}

// appendChunk appends {"_tag":"Chunk","requestId":…,"values":[<PullResponse>]}.
func appendChunk(dst []byte, requestID string, page *syncv1.PullResponse) []byte {
	return chunkFrame(requestID, service.PageOf(page)).appendTo(dst)
}

// chunkTail ends a Chunk frame.
var chunkTail = []byte(`]}`)

// chunkFrame returns the Chunk {"_tag":"Chunk","requestId":…,"values":[<page>]} in parts: its
// own start, the page's JSON, shared with every other socket the page is sent to, and its end.
func chunkFrame(requestID string, page *service.Page) outFrame {
	return outFrame{head: chunkHead(requestID), shared: page.JSON(), tail: chunkTail}
}

// chunkHead returns the start of the Chunk frames of the request requestID, up to their values.
func chunkHead(requestID string) []byte {
	const start, values = `{"_tag":"Chunk","requestId":`, `,"values":[`
	head := make([]byte, 0, len(start)+eventjson.StringSize(requestID)+len(values))
	head = append(head, start...)
	head = eventjson.AppendString(head, requestID)
	return append(head, values...)
}

// exit is the body of an Exit message, already encoded (see the exit* functions).
type exit []byte

// appendExit appends {"_tag":"Exit","requestId":…,"exit":<exit>}.
func appendExit(dst []byte, requestID string, e exit) []byte {
	dst = append(dst, `{"_tag":"Exit","requestId":`...)
	dst = eventjson.AppendString(dst, requestID)
	dst = append(dst, `,"exit":`...)
	dst = append(dst, e...)
	return append(dst, '}')
}

var (
	// exitStreamSuccess ends a stream RPC (Pull): no value key.
	exitStreamSuccess = exit(`{"_tag":"Success"}`)
	// exitPushSuccess ends a Push: the PushAck {}.
	exitPushSuccess = exit(`{"_tag":"Success","value":{}}`)
	// exitPingSuccess ends an HTTP Ping.
	exitPingSuccess = exit(`{"_tag":"Success","value":{"_tag":"SyncMessage.Pong"}}`)
	// exitClientInterrupt ends a request the client interrupted: the minimal form of the cause
	// the reference sends (it sends a tree of Sequential/Empty/Interrupt nodes, all with this
	// fiber id; the client ignores the Exit either way, PROTOCOL §4.4).
	exitClientInterrupt = exit(`{"_tag":"Failure","cause":{"_tag":"Interrupt","fiberId":{"_tag":"Runtime","id":-499,"startTimeMillis":0}}}`)
)

// exitFail is {"_tag":"Failure","cause":{"_tag":"Fail","error":<err>}} for an encoded typed error.
func exitFail(typedErr []byte) exit {
	e := append([]byte(`{"_tag":"Failure","cause":{"_tag":"Fail","error":`), typedErr...)
	return append(e, `}}`...)
}

// exitDie is {"_tag":"Failure","cause":{"_tag":"Die","defect":<d>}}.
func exitDie(d defect) exit {
	e := appendDefect([]byte(`{"_tag":"Failure","cause":{"_tag":"Die","defect":`), d)
	return append(e, `}}`...)
}

// appendServerAheadError appends {"minimumExpectedNum":…,"providedNum":…,"_tag":"ServerAheadError"}.
func appendServerAheadError(dst []byte, minimumExpected, provided uint64) []byte {
	dst = append(dst, `{"minimumExpectedNum":`...)
	dst = strconv.AppendUint(dst, minimumExpected, 10)
	dst = append(dst, `,"providedNum":`...)
	dst = strconv.AppendUint(dst, provided, 10)
	return append(dst, `,"_tag":"ServerAheadError"}`...)
}

// appendBackendIDMismatchError appends {"expected":…,"received":…,"_tag":"BackendIdMismatchError"}.
func appendBackendIDMismatchError(dst []byte, expected, received string) []byte {
	dst = append(dst, `{"expected":`...)
	dst = eventjson.AppendString(dst, expected)
	dst = append(dst, `,"received":`...)
	dst = eventjson.AppendString(dst, received)
	return append(dst, `,"_tag":"BackendIdMismatchError"}`...)
}

// appendUnknownError appends {"cause":{"name":"Error","message":…},"_tag":"UnknownError"}.
// The reference sometimes adds "note" and "payload" keys; both are optional in the schema.
func appendUnknownError(dst []byte, message string) []byte {
	dst = append(dst, `{"cause":`...)
	dst = appendDefect(dst, defect{Name: "Error", Message: message})
	return append(dst, `,"_tag":"UnknownError"}`...)
}

// appendDefectMessage appends the top-level {"_tag":"Defect","defect":<d>}: a connection-level
// error without a request id; the client fails every pending request with it.
func appendDefectMessage(dst []byte, d defect) []byte {
	dst = append(dst, `{"_tag":"Defect","defect":`...)
	dst = appendDefect(dst, d)
	return append(dst, '}')
}

// pongMessage answers a Ping.
var pongMessage = []byte(`{"_tag":"Pong"}`)

// appendMessages appends the JSON array of msgs: the body of an HTTP transport response.
func appendMessages(dst []byte, msgs ...[]byte) []byte {
	dst = append(dst, '[')
	for i, m := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, m...)
	}
	return append(dst, ']')
}
