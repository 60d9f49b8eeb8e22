package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
)

// payloadError says where and why an RPC payload does not match its schema. Its text becomes the
// defect of an Exit Die, as the reference answers a payload that fails schema decoding.
type payloadError struct {
	path []string
	msg  string
}

func (e *payloadError) Error() string {
	if len(e.path) == 0 {
		return e.msg
	}
	return strings.Join(e.path, "") + ": " + e.msg
}

func (e *payloadError) at(step string) *payloadError {
	e.path = append([]string{step}, e.path...)
	return e
}

func keyStep(k string) string { return "[" + strconv.Quote(k) + "]" }
func indexStep(i int) string  { return "[" + strconv.Itoa(i) + "]" }

// jsonObject is a decoded JSON object with its values kept as raw JSON.
type jsonObject map[string]json.RawMessage

func asObject(raw json.RawMessage, what string) (jsonObject, *payloadError) {
	if raw == nil || raw[0] != '{' {
		return nil, &payloadError{msg: "expected " + what + ", actual " + describe(raw)}
	}
	if o, ok := splitObject(raw); ok { // raw is part of a frame checked as a whole
		return o, nil
	}
	var o jsonObject
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, &payloadError{msg: "expected " + what + ", actual " + describe(raw)}
	}
	return o, nil
}

// describe renders a JSON value for an error message, shortened.
func describe(raw json.RawMessage) string {
	if raw == nil {
		return "undefined"
	}
	return shorten(string(raw), 60)
}

// shorten cuts s to at most max bytes followed by "…" when it is longer, backing up to the start
// of the UTF-8 sequence that the cut would split (so that valid UTF-8 stays valid).
func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for i := max; i > 0 && i > max-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			cut = i
			break
		}
	}
	return s[:cut] + "…"
}

func (o jsonObject) required(key string) (json.RawMessage, *payloadError) {
	v, ok := o[key]
	if !ok {
		return nil, (&payloadError{msg: "is missing"}).at(keyStep(key))
	}
	return v, nil
}

func (o jsonObject) string(key string) (string, *payloadError) {
	raw, perr := o.required(key)
	if perr != nil {
		return "", perr
	}
	s, perr := asString(raw)
	if perr != nil {
		return "", perr.at(keyStep(key))
	}
	return s, nil
}

func asString(raw json.RawMessage) (string, *payloadError) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", &payloadError{msg: "expected a string, actual " + describe(raw)}
	}
	return s, nil
}

func (o jsonObject) bool(key string) (bool, *payloadError) {
	raw, perr := o.required(key)
	if perr != nil {
		return false, perr
	}
	switch string(raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, (&payloadError{msg: "expected a boolean, actual " + describe(raw)}).at(keyStep(key))
}

// seqNum reads a sequence number: a JSON number with an integer value (LiveStore's Schema.Int;
// 1.0 and 1e3 are integers to JavaScript), not negative, within uint64.
func (o jsonObject) seqNum(key string) (uint64, *payloadError) {
	raw, perr := o.required(key)
	if perr != nil {
		return 0, perr
	}
	n, perr := asSeqNum(raw)
	if perr != nil {
		return 0, perr.at(keyStep(key))
	}
	return n, nil
}

func asSeqNum(raw json.RawMessage) (uint64, *payloadError) {
	text := string(raw)
	if n, err := strconv.ParseUint(text, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, &payloadError{msg: "expected an integer, actual " + describe(raw)}
	case f != math.Trunc(f):
		return 0, &payloadError{msg: "expected an integer, actual " + describe(raw)}
	case f < 0:
		return 0, &payloadError{msg: "expected a non-negative integer, actual " + describe(raw)}
	case err != nil || f >= math.MaxUint64:
		return 0, &payloadError{msg: "expected an integer below 2^64, actual " + describe(raw)}
	}
	return uint64(f), nil
}

// option reads Effect's Schema.Option encoding, {"_tag":"None"} or {"_tag":"Some","value":…},
// and returns the value of a Some (nil for None).
func (o jsonObject) option(key string) (json.RawMessage, bool, *payloadError) {
	raw, perr := o.required(key)
	if perr != nil {
		return nil, false, perr
	}
	v, some, perr := asOption(raw)
	if perr != nil {
		return nil, false, perr.at(keyStep(key))
	}
	return v, some, nil
}

func asOption(raw json.RawMessage) (json.RawMessage, bool, *payloadError) {
	obj, perr := asObject(raw, `{"_tag":"None"} or {"_tag":"Some","value":…}`)
	if perr != nil {
		return nil, false, perr
	}
	tag, perr := obj.string("_tag")
	if perr != nil {
		return nil, false, perr
	}
	switch tag {
	case "None":
		return nil, false, nil
	case "Some":
		v, perr := obj.required("value")
		return v, true, perr
	}
	return nil, false, (&payloadError{msg: `expected "None" or "Some", actual ` + strconv.Quote(tag)}).at(keyStep("_tag"))
}

// decodedPayload is the part common to every LiveStore RPC payload.
type decodedPayload struct {
	obj jsonObject
	// clientPayload is the optional "payload" (the client's auth payload), nil when absent.
	clientPayload json.RawMessage
}

// decodeCommon decodes the common part of payload raw, whose members are members when they were
// split already (nil: raw is split here).
func decodeCommon(raw json.RawMessage, members jsonObject) (decodedPayload, *payloadError) {
	obj := members
	if obj == nil {
		var perr *payloadError
		if obj, perr = asObject(raw, "an object"); perr != nil {
			return decodedPayload{}, perr
		}
	}
	// storeId is required by the schema but its value is ignored: the URL's store id is
	// authoritative (PROTOCOL §3).
	if _, perr := obj.string("storeId"); perr != nil {
		return decodedPayload{}, perr
	}
	return decodedPayload{obj: obj, clientPayload: obj["payload"]}, nil
}

// decodePullPayload decodes the payload of a Pull request: {storeId, payload?, live, cursor}.
// live is required over WebSocket and ignored over HTTP (which has no live pulls). members are
// raw's members when they were split already, or nil.
func decodePullPayload(raw json.RawMessage, members jsonObject, withLive bool) (*syncv1.PullRequest, json.RawMessage, error) {
	p, perr := decodeCommon(raw, members)
	if perr != nil {
		return nil, nil, perr
	}
	req := &syncv1.PullRequest{}
	if withLive {
		if req.Live, perr = p.obj.bool("live"); perr != nil {
			return nil, nil, perr
		}
	}
	cursor, some, perr := p.obj.option("cursor")
	if perr != nil {
		return nil, nil, perr
	}
	if some {
		if req.Cursor, perr = decodeCursor(cursor); perr != nil {
			return nil, nil, perr.at(keyStep("value")).at(keyStep("cursor"))
		}
	}
	return req, p.clientPayload, nil
}

func decodeCursor(raw json.RawMessage) (*syncv1.Cursor, *payloadError) {
	obj, perr := asObject(raw, "a cursor object")
	if perr != nil {
		return nil, perr
	}
	c := &syncv1.Cursor{}
	if c.BackendId, perr = obj.string("backendId"); perr != nil {
		return nil, perr
	}
	if c.EventSequenceNumber, perr = obj.seqNum("eventSequenceNumber"); perr != nil {
		return nil, perr
	}
	return c, nil
}

// decodePushPayload decodes the payload of a Push request: {storeId, payload?, batch, backendId}.
// members are raw's members when they were split already, or nil; decoded is members["batch"]
// decoded already (clientMessage.Batch), or nil.
func decodePushPayload(raw json.RawMessage, members jsonObject, decoded []*syncv1.Event) (*syncv1.PushRequest, json.RawMessage, error) {
	p, perr := decodeCommon(raw, members)
	if perr != nil {
		return nil, nil, perr
	}
	req := &syncv1.PushRequest{}
	batch, perr := p.obj.required("batch")
	if perr != nil {
		return nil, nil, perr
	}
	req.Batch = decoded
	if req.Batch == nil {
		if req.Batch, perr = decodeBatch(batch); perr != nil {
			return nil, nil, perr.at(keyStep("batch"))
		}
	}
	backendID, some, perr := p.obj.option("backendId")
	if perr != nil {
		return nil, nil, perr
	}
	if some {
		id, perr := asString(backendID)
		if perr != nil {
			return nil, nil, perr.at(keyStep("value")).at(keyStep("backendId"))
		}
		req.BackendId = &id
	}
	return req, p.clientPayload, nil
}

func decodeBatch(raw json.RawMessage) ([]*syncv1.Event, *payloadError) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, &payloadError{msg: "expected an array of events, actual " + describe(raw)}
	}
	if events, ok := decodeBatchFast(raw); ok { // the form LiveStore's client sends
		return events, nil
	}
	return decodeBatchGeneral(raw)
}

// decodeBatchGeneral is decodeBatch of any batch.
func decodeBatchGeneral(raw json.RawMessage) ([]*syncv1.Event, *payloadError) {
	// Fast path, for batches of objects: one pass over the JSON instead of one per event.
	var objects []jsonObject
	if json.Unmarshal(raw, &objects) == nil && !slices.ContainsFunc(objects, func(o jsonObject) bool { return o == nil }) {
		return decodeEach(objects, decodeEventObject)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &payloadError{msg: "expected an array of events, actual " + describe(raw)}
	}
	return decodeEach(items, decodeEvent)
}

// decodeEach decodes every item of a batch, naming the index of the first that fails.
func decodeEach[T any](items []T, decode func(T) (*syncv1.Event, *payloadError)) ([]*syncv1.Event, *payloadError) {
	events := make([]*syncv1.Event, len(items))
	for i, item := range items {
		e, perr := decode(item)
		if perr != nil {
			return nil, perr.at(indexStep(i))
		}
		events[i] = e
	}
	return events, nil
}

// decodeEvent decodes LiveStoreEvent.Global.Encoded. args is kept as the exact JSON text received
// (absent args stay empty, LiveStore's undefined).
func decodeEvent(raw json.RawMessage) (*syncv1.Event, *payloadError) {
	obj, perr := asObject(raw, "an event object")
	if perr != nil {
		return nil, perr
	}
	return decodeEventObject(obj)
}

// decodeEventObject decodes an event whose JSON object is obj (see decodeEvent).
func decodeEventObject(obj jsonObject) (*syncv1.Event, *payloadError) {
	var perr *payloadError
	e := &syncv1.Event{}
	if e.Name, perr = obj.string("name"); perr != nil {
		return nil, perr
	}
	if args, ok := obj["args"]; ok {
		e.Args = string(args)
	}
	if e.SeqNum, perr = obj.seqNum("seqNum"); perr != nil {
		return nil, perr
	}
	if e.ParentSeqNum, perr = obj.seqNum("parentSeqNum"); perr != nil {
		return nil, perr
	}
	if e.ClientId, perr = obj.string("clientId"); perr != nil {
		return nil, perr
	}
	if e.SessionId, perr = obj.string("sessionId"); perr != nil {
		return nil, perr
	}
	return e, nil
}

// decodePingPayload decodes the payload of an HTTP Ping request: {storeId, payload?}. members
// are raw's members when they were split already, or nil.
func decodePingPayload(raw json.RawMessage, members jsonObject) (json.RawMessage, error) {
	p, perr := decodeCommon(raw, members)
	if perr != nil {
		return nil, perr
	}
	return p.clientPayload, nil
}

// formatPayloadError is the Die defect for a payload of rpc that failed decoding.
func formatPayloadError(rpc string, err error) string {
	return fmt.Sprintf("invalid %s payload: %v", rpc, err)
}
