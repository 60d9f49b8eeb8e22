package bridge

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Effect RPC message tags sent by clients (PROTOCOL §2.1).
const (
	tagRequest   = "Request"
	tagAck       = "Ack"
	tagInterrupt = "Interrupt"
	tagPing      = "Ping"
	tagEof       = "Eof"
)

// RPC tags of the LiveStore sync groups (PROTOCOL §3). The SyncHttpRpc ones are for the HTTP
// transport (http.go), not implemented yet.
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
}

// decodeClientMessage decodes one client frame. A frame that is not JSON gives a defect value
// to send as a top-level Defect, like the reference (a SyntaxError).
func decodeClientMessage(data []byte) (clientMessage, *defect) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		msg := "invalid JSON"
		if err != nil {
			msg = err.Error()
		}
		return clientMessage{}, &defect{Name: "SyntaxError", Message: msg}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		// Valid JSON but not an object: the reference reads its _tag as undefined.
		return clientMessage{Tag: "undefined"}, nil
	}
	m := clientMessage{Tag: jsTemplateString(fields["_tag"], "undefined")}
	switch m.Tag {
	case tagRequest:
		m.RPC = jsTemplateString(fields["tag"], "")
		m.RawID = jsTemplateString(fields["id"], "undefined")
		m.ID = canonicalRequestID(fields["id"])
		m.Payload = fields["payload"]
	case tagAck, tagInterrupt:
		m.RawID = jsTemplateString(fields["requestId"], "undefined")
		m.ID = canonicalRequestID(fields["requestId"])
	}
	return m, nil
}

// jsTemplateString renders a JSON value as `${v}` would in JavaScript, near enough for error
// messages and tag comparison: strings unquoted, missing values as missing.
func jsTemplateString(raw json.RawMessage, missing string) string {
	if raw == nil {
		return missing
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// canonicalRequestID returns the request id in raw (a JSON string of a decimal integer, as the
// Effect RPC client sends its BigInt ids) in canonical form: no leading zeros, no "-0". It returns
// "" for anything else.
//
// The reference parses ids with BigInt; a non-numeric id throws inside its message loop and the
// socket never answers again (PROTOCOL §2.1). The bridge rejects such ids with a Defect instead.
func canonicalRequestID(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 64 {
		return ""
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return ""
		}
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return "0"
	}
	if neg {
		return "-" + digits
	}
	return digits
}
