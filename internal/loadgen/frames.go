package loadgen

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Frames the client sends, with the keys in the order LiveStore's client writes them. The
// tracing fields are constant: a server continues the trace they name, and one trace for a
// whole run is harmless.
const (
	traceID = `"traceId":"6c6f616467656e6c6f616467656e0001","spanId":"6c6f616467656e01","sampled":false,"headers":[]`
	none    = `{"_tag":"None"}`
)

// appendPushFrame appends a SyncWsRpc.Push request of the events (a JSON array) with the
// backend id, or None when it is empty, and the client payload (JSON; empty for none).
func appendPushFrame(dst []byte, id uint64, storeID, payload string, batch []byte, backendID string) []byte {
	dst = append(dst, `{"_tag":"Request","id":"`...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, `","tag":"SyncWsRpc.Push","payload":{"storeId":`...)
	dst = strconv.AppendQuote(dst, storeID)
	dst = appendPayload(dst, payload)
	dst = append(dst, `,"batch":`...)
	dst = append(dst, batch...)
	dst = append(dst, `,"backendId":`...)
	dst = appendOption(dst, backendID)
	dst = append(dst, `},`...)
	dst = append(dst, traceID...)
	return append(dst, '}')
}

// appendPullFrame appends a SyncWsRpc.Pull request from the cursor (after event number after
// of backendID; None when backendID is empty), with the client payload (JSON; empty for none).
func appendPullFrame(dst []byte, id uint64, storeID, payload string, live bool, backendID string, after uint64) []byte {
	dst = append(dst, `{"_tag":"Request","id":"`...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, `","tag":"SyncWsRpc.Pull","payload":{"storeId":`...)
	dst = strconv.AppendQuote(dst, storeID)
	dst = appendPayload(dst, payload)
	dst = append(dst, `,"live":`...)
	dst = strconv.AppendBool(dst, live)
	dst = append(dst, `,"cursor":`...)
	if backendID == "" {
		dst = append(dst, none...)
	} else {
		dst = append(dst, `{"_tag":"Some","value":{"backendId":`...)
		dst = strconv.AppendQuote(dst, backendID)
		dst = append(dst, `,"eventSequenceNumber":`...)
		dst = strconv.AppendUint(dst, after, 10)
		dst = append(dst, `}}`...)
	}
	dst = append(dst, `},`...)
	dst = append(dst, traceID...)
	return append(dst, '}')
}

// appendPayload appends the payload field of an RPC payload, if there is a client payload.
func appendPayload(dst []byte, payload string) []byte {
	if payload == "" {
		return dst
	}
	dst = append(dst, `,"payload":`...)
	return append(dst, payload...)
}

// appendAckFrame appends the Ack of a Chunk of request id.
func appendAckFrame(dst []byte, id string) []byte {
	dst = append(dst, `{"_tag":"Ack","requestId":`...)
	dst = strconv.AppendQuote(dst, id)
	return append(dst, '}')
}

func appendOption(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, none...)
	}
	dst = append(dst, `{"_tag":"Some","value":`...)
	dst = strconv.AppendQuote(dst, s)
	return append(dst, '}')
}

// appendEvent appends the benchmark event seq of a store, as LiveStore encodes events. Its
// args look like a typical todo, padded to at least pad bytes of text.
func appendEvent(dst []byte, seq uint64, pad int) []byte {
	dst = append(dst, `{"name":"benchEvent-v1","args":{"id":"e-`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `","text":"Benchmark event number `...)
	dst = strconv.AppendUint(dst, seq, 10)
	for range pad {
		dst = append(dst, '.')
	}
	dst = append(dst, `","completed":false},"seqNum":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"parentSeqNum":`...)
	dst = strconv.AppendUint(dst, seq-1, 10)
	return append(dst, `,"clientId":"loadgen-client","sessionId":"loadgen-session"}`...)
}

// appendBatch appends the JSON array of the events first … first+n-1.
func appendBatch(dst []byte, first uint64, n, pad int) []byte {
	dst = append(dst, '[')
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEvent(dst, first+uint64(i), pad)
	}
	return append(dst, ']')
}

// serverMsg is a message from the server, decoded as far as the load generator needs.
type serverMsg struct {
	Tag       string          `json:"_tag"`
	RequestID string          `json:"requestId"`
	Values    []pullResponse  `json:"values"`
	Exit      *exitMsg        `json:"exit"`
	Defect    json.RawMessage `json:"defect"`
}

// pullResponse is one PullResponse of a Chunk.
type pullResponse struct {
	Batch    []pulledEvent `json:"batch"`
	PageInfo struct {
		Tag       string `json:"_tag"`
		Remaining uint64 `json:"remaining"`
	} `json:"pageInfo"`
	BackendID string `json:"backendId"`
}

// pulledEvent is an event of a PullResponse, as far as the order check needs it.
type pulledEvent struct {
	EventEncoded struct {
		SeqNum       uint64 `json:"seqNum"`
		ParentSeqNum uint64 `json:"parentSeqNum"`
	} `json:"eventEncoded"`
}

// exitMsg is the exit of an Exit message.
type exitMsg struct {
	Tag   string          `json:"_tag"`
	Cause json.RawMessage `json:"cause"`
}

// err is nil for a Success, else an error carrying the cause.
func (e *exitMsg) err() error {
	if e == nil {
		return fmt.Errorf("exit without a value")
	}
	if e.Tag == "Success" {
		return nil
	}
	return &ExitError{Cause: string(e.Cause)}
}

// ExitError is a request that the server ended with a Failure.
type ExitError struct {
	// Cause is the failure's cause as the server sent it (JSON).
	Cause string
}

// Error gives the cause.
func (e *ExitError) Error() string { return "request failed: " + e.Cause }
