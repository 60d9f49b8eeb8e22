package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
)

// The event format of tail, export, import and push: one JSON object per event, in LiveStore's
// encoding of a global event, with the server's createdAt added last:
//
//	{"name":…,"args":…,"seqNum":…,"parentSeqNum":…,"clientId":…,"sessionId":…,"createdAt":"…"}
//
// args is written exactly as it was pushed (key order, unicode, number spelling, whitespace), and
// left out when the event has none. An args value pushed with line breaks inside therefore spans
// several lines; the readers read a stream of JSON values, so they take it back unchanged.

// appendEventLine appends a pulled event in the event format, and a newline.
func appendEventLine(dst []byte, p *syncv1.PulledEvent) []byte {
	dst = eventjson.AppendEvent(dst, p.GetEvent())
	if ts := p.GetMetadata().GetCreatedAt(); ts != nil {
		dst = dst[:len(dst)-1] // the closing brace
		dst = append(dst, `,"createdAt":"`...)
		dst = ts.AsTime().UTC().AppendFormat(dst, eventjson.TimeLayout)
		dst = append(dst, `"}`...)
	}
	return append(dst, '\n')
}

// inputEvent is one event read by import and push. Pointers tell missing fields from zero ones.
type inputEvent struct {
	Name         *string         `json:"name"`
	Args         json.RawMessage `json:"args"` // the exact bytes of the value; nil when missing
	SeqNum       *uint64         `json:"seqNum"`
	ParentSeqNum *uint64         `json:"parentSeqNum"`
	ClientID     *string         `json:"clientId"`
	SessionID    *string         `json:"sessionId"`
	CreatedAt    json.RawMessage `json:"createdAt"` // ignored: the server stamps its own
}

// eventReader reads events in the event format from a stream of JSON objects, one after the
// other (one per line, as export writes them, but any whitespace between them will do).
type eventReader struct {
	dec *json.Decoder
	// exactArgs: take args with the whitespace around its value, as export writes it (see
	// rawMember), rather than the value alone.
	exactArgs bool
	// n is the number of events read so far.
	n int
}

// newEventReader returns a reader of the events in r.
func newEventReader(r io.Reader, exactArgs bool) *eventReader {
	return &eventReader{dec: json.NewDecoder(r), exactArgs: exactArgs}
}

// next returns the next event, or io.EOF after the last one. A malformed event is an error that
// names its position in the input (counting from 1).
func (r *eventReader) next() (*inputEvent, error) {
	var obj json.RawMessage
	if err := r.dec.Decode(&obj); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("input event %d is not valid JSON: %v", r.n+1, err)
	}
	r.n++
	var e inputEvent
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.DisallowUnknownFields() // a misspelt field is a mistake, not an event without it
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("input event %d: %v", r.n, err)
	}
	if e.Name == nil || *e.Name == "" {
		return nil, fmt.Errorf("input event %d has no name", r.n)
	}
	if (e.SeqNum == nil) != (e.ParentSeqNum == nil) {
		return nil, fmt.Errorf("input event %d has only one of seqNum and parentSeqNum: give both or neither", r.n)
	}
	if r.exactArgs && e.Args != nil {
		if raw, ok := rawMember(obj, "args"); ok {
			e.Args = raw
		}
	}
	return &e, nil
}

// rawMember returns the bytes of the member name of the JSON object obj (matched as
// encoding/json matches field names, without regard to case; the last one when repeated) from
// just after its colon to just before the comma or brace that ends it: its value with the
// whitespace around it. export writes args right after the colon and right before the next
// comma, so this is args byte for byte, even when it begins or ends with whitespace.
func rawMember(obj []byte, name string) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var (
		member []byte
		found  bool
	)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		afterKey := int(dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		end := int(dec.InputOffset())
		if key, _ := t.(string); !strings.EqualFold(key, name) {
			continue
		}
		colon := bytes.IndexByte(obj[afterKey:end], ':')
		if colon < 0 {
			return nil, false
		}
		for end < len(obj) && strings.IndexByte(" \t\r\n", obj[end]) >= 0 {
			end++
		}
		member, found = obj[afterKey+colon+1:end], true
	}
	return member, found
}

// event returns e as an event of the API, with clientId and sessionId defaulting to defaultID
// and seqNum and parentSeqNum to 0.
func (e *inputEvent) event(defaultID string) *syncv1.Event {
	ev := &syncv1.Event{Name: *e.Name, ClientId: defaultID, SessionId: defaultID}
	if e.Args != nil {
		ev.Args = string(e.Args)
	}
	if e.SeqNum != nil {
		ev.SeqNum, ev.ParentSeqNum = *e.SeqNum, *e.ParentSeqNum
	}
	if e.ClientID != nil {
		ev.ClientId = *e.ClientID
	}
	if e.SessionID != nil {
		ev.SessionId = *e.SessionID
	}
	return ev
}
