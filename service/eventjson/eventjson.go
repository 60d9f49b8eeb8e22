// Package eventjson writes events in LiveStore's JSON encoding, byte for byte as LiveStore's own
// server writes them with JSON.stringify: compact, keys in LiveStore's order, strings escaped as
// JavaScript escapes them (only '"', '\\' and control characters; all other characters raw), and
// args copied through exactly as they were pushed.
//
// The service uses it to encode each event once at push (the bytes engines keep), to measure and
// assemble pull pages, and to read stored encodings back for protobuf (ParseEvent); the bridge
// writes pages with it; both check the JSON text clients send with Valid.
package eventjson

import (
	"strconv"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
)

// TimeLayout is the layout of createdAt: ISO 8601 in UTC with milliseconds, as JavaScript's
// Date.prototype.toISOString writes it.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// AppendEvent appends the event's encoding:
//
//	{"name":…,"args":…,"seqNum":…,"parentSeqNum":…,"clientId":…,"sessionId":…}
//
// "args" is left out when the event has none (LiveStore's undefined).
func AppendEvent(dst []byte, e *syncv1.Event) []byte {
	return AppendEventOf(dst, e.GetName(), e.GetArgs(), e.GetClientId(), e.GetSessionId(), e.GetSeqNum(), e.GetParentSeqNum())
}

// AppendEventOf is AppendEvent of the event with these fields.
func AppendEventOf(dst []byte, name, args, clientID, sessionID string, seqNum, parentSeqNum uint64) []byte {
	dst = append(dst, `{"name":`...)
	dst = AppendString(dst, name)
	if args != "" {
		dst = append(dst, `,"args":`...)
		dst = append(dst, args...)
	}
	dst = append(dst, `,"seqNum":`...)
	dst = strconv.AppendUint(dst, seqNum, 10)
	dst = append(dst, `,"parentSeqNum":`...)
	dst = strconv.AppendUint(dst, parentSeqNum, 10)
	dst = append(dst, `,"clientId":`...)
	dst = AppendString(dst, clientID)
	dst = append(dst, `,"sessionId":`...)
	dst = AppendString(dst, sessionID)
	return append(dst, '}')
}

// AppendPulledEvent appends an element of a PullResponse batch:
//
//	{"eventEncoded":<event>,"metadata":{"_tag":"Some","value":{"_tag":"SyncMessage.SyncMetadata","createdAt":"…"}}}
//
// metadata is {"_tag":"None"} when the event has no creation time.
func AppendPulledEvent(dst []byte, p *syncv1.PulledEvent) []byte {
	dst = append(dst, `{"eventEncoded":`...)
	dst = AppendEvent(dst, p.GetEvent())
	if ts := p.GetMetadata().GetCreatedAt(); ts != nil {
		var buf [len(TimeLayout)]byte
		return appendMetadataSome(dst, ts.AsTime().UTC().AppendFormat(buf[:0], TimeLayout))
	}
	return append(dst, `,"metadata":{"_tag":"None"}}`...)
}

// AppendPulledEventOf is AppendPulledEvent of the event with these fields, created at the time
// createdAt formatted with TimeLayout (AppendTime).
func AppendPulledEventOf(dst []byte, name, args, clientID, sessionID string, seqNum, parentSeqNum uint64, createdAt []byte) []byte {
	dst = append(dst, `{"eventEncoded":`...)
	dst = AppendEventOf(dst, name, args, clientID, sessionID, seqNum, parentSeqNum)
	return appendMetadataSome(dst, createdAt)
}

// AppendPulledEventEncoded is AppendPulledEvent of the event whose encoding (AppendEventOf) is
// encoded, created at the time createdAt formatted with TimeLayout: encoded is copied as it is.
func AppendPulledEventEncoded(dst, encoded, createdAt []byte) []byte {
	dst = append(dst, `{"eventEncoded":`...)
	dst = append(dst, encoded...)
	return appendMetadataSome(dst, createdAt)
}

func appendMetadataSome(dst, createdAt []byte) []byte {
	dst = append(dst, `,"metadata":{"_tag":"Some","value":{"_tag":"SyncMessage.SyncMetadata","createdAt":"`...)
	dst = append(dst, createdAt...)
	return append(dst, `"}}}`...)
}

// AppendTime appends the time unixMillis (milliseconds since the Unix epoch) as createdAt is
// written, without quotes.
func AppendTime(dst []byte, unixMillis int64) []byte {
	return time.UnixMilli(unixMillis).UTC().AppendFormat(dst, TimeLayout)
}

// PulledEventSize is len(AppendPulledEvent(nil, p)) for an event with a creation time, computed
// without encoding.
func PulledEventSize(e *syncv1.Event) int {
	return PulledEventSizeOf(e.GetName(), e.GetArgs(), e.GetClientId(), e.GetSessionId(), e.GetSeqNum(), e.GetParentSeqNum())
}

// PulledEventSizeOf is PulledEventSize of the event with these fields.
func PulledEventSizeOf(name, args, clientID, sessionID string, seqNum, parentSeqNum uint64) int {
	return PulledEventSizeEncoded(EventSizeOf(name, args, clientID, sessionID, seqNum, parentSeqNum))
}

// EventSize is len(AppendEvent(nil, e)), computed without encoding.
func EventSize(e *syncv1.Event) int {
	return EventSizeOf(e.GetName(), e.GetArgs(), e.GetClientId(), e.GetSessionId(), e.GetSeqNum(), e.GetParentSeqNum())
}

// EventSizeOf is EventSize of the event with these fields.
func EventSizeOf(name, args, clientID, sessionID string, seqNum, parentSeqNum uint64) int {
	return EventSizeOfSized(StringSize(name), args, StringSize(clientID), StringSize(sessionID), seqNum, parentSeqNum)
}

// EventSizeOfSized is EventSizeOf of the event whose name, client id and session id take
// nameSize, clientIDSize and sessionIDSize bytes encoded (StringSize).
func EventSizeOfSized(nameSize int, args string, clientIDSize, sessionIDSize int, seqNum, parentSeqNum uint64) int {
	const fixed = len(`{"name":,"seqNum":,"parentSeqNum":,"clientId":,"sessionId":}`)
	n := fixed + nameSize + clientIDSize + sessionIDSize + uintSize(seqNum) + uintSize(parentSeqNum)
	if args != "" {
		n += len(`,"args":`) + len(args)
	}
	return n
}

// PulledEventSizeEncoded is PulledEventSize of the event whose encoding (AppendEventOf) is n
// bytes long: len(AppendPulledEventEncoded(nil, encoded, createdAt)) for len(encoded) == n.
func PulledEventSizeEncoded(n int) int {
	return n + len(`{"eventEncoded":`+
		`,"metadata":{"_tag":"Some","value":{"_tag":"SyncMessage.SyncMetadata","createdAt":"2006-01-02T15:04:05.000Z"}}}`)
}

// AppendPullResponse appends a PullResponse:
//
//	{"batch":[…],"pageInfo":{"_tag":"NoMore"},"backendId":"…"}
func AppendPullResponse(dst []byte, r *syncv1.PullResponse) []byte {
	dst = append(dst, `{"batch":[`...)
	for i, p := range r.GetBatch() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendPulledEvent(dst, p)
	}
	dst = append(dst, `],"pageInfo":`...)
	dst = AppendPageInfo(dst, r.GetPageInfo())
	dst = append(dst, `,"backendId":`...)
	dst = AppendString(dst, r.GetBackendId())
	return append(dst, '}')
}

// AppendPullResponseOf is AppendPullResponse of a page of n events, the ith of which event
// appends (with AppendPulledEventOf), followed by remaining more events (NoMore when 0, else
// MoreKnown), of the backend backendID.
func AppendPullResponseOf(dst []byte, n int, event func(dst []byte, i int) []byte, remaining uint64, backendID string) []byte {
	dst = append(dst, `{"batch":[`...)
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = event(dst, i)
	}
	if remaining > 0 {
		dst = append(dst, `],"pageInfo":{"_tag":"MoreKnown","remaining":`...)
		dst = strconv.AppendUint(dst, remaining, 10)
		dst = append(dst, '}')
	} else {
		dst = append(dst, `],"pageInfo":{"_tag":"NoMore"}`...)
	}
	dst = append(dst, `,"backendId":`...)
	dst = AppendString(dst, backendID)
	return append(dst, '}')
}

// AppendPageInfo appends {"_tag":"NoMore"}, {"_tag":"MoreKnown","remaining":n} or
// {"_tag":"MoreUnknown"}. A nil or empty PageInfo is NoMore.
func AppendPageInfo(dst []byte, p *syncv1.PageInfo) []byte {
	switch k := p.GetKind().(type) {
	case *syncv1.PageInfo_MoreKnown_:
		dst = append(dst, `{"_tag":"MoreKnown","remaining":`...)
		dst = strconv.AppendUint(dst, k.MoreKnown.GetRemaining(), 10)
		return append(dst, '}')
	case *syncv1.PageInfo_MoreUnknown_:
		return append(dst, `{"_tag":"MoreUnknown"}`...)
	default:
		return append(dst, `{"_tag":"NoMore"}`...)
	}
}

// PageOverhead bounds the bytes a PullResponse adds around its events' encodings: brackets,
// the page info and a backend id of up to 64 bytes (commas between events not included). A page
// whose events' sizes plus one byte per event sum to at most limit-PageOverhead encodes in at most
// limit bytes.
const PageOverhead = len(`{"batch":[],"pageInfo":{"_tag":"MoreKnown","remaining":18446744073709551615},"backendId":""}`) + 64

// FormatTime formats t as createdAt is written.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as JavaScript's JSON.stringify escapes it.
// Invalid UTF-8 bytes are copied through (Go strings from the API are valid UTF-8).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// StringSize is len(AppendString(nil, s)).
func StringSize(s string) int { return ScanString(s).Size }

// StringScan is what ScanString finds in one pass over a string.
type StringScan struct {
	// Size is len(AppendString(nil, s)), as StringSize.
	Size int
	// NUL reports that s holds the byte 0 (U+0000).
	NUL bool
	// ASCII reports that every byte of s is below 0x80: s is then valid UTF-8.
	ASCII bool
}

// ScanString returns StringSize(s) and what else one look at each of its bytes tells: the
// service checks an event's short text fields (name, ids) and measures them in one pass.
func ScanString(s string) StringScan {
	n, seen := 2+len(s), byte(0)
	for i := 0; i < len(s); i++ {
		c := byteClasses[s[i]]
		n += int(c & classEscapeBytes)
		seen |= c
	}
	return StringScan{Size: n, NUL: seen&classNUL != 0, ASCII: seen&classHigh == 0}
}

// byteClasses holds, for each byte, how many bytes AppendString adds to escape it (the bits of
// classEscapeBytes: 1 for '"', '\\' and the control characters with a short escape, 5 for the
// other control characters, written \u00XX) and the flags classNUL and classHigh.
var byteClasses = func() (t [256]byte) {
	for c := range 256 {
		switch {
		case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
			t[c] = 1
		case c < 0x20:
			t[c] = 5
		case c >= 0x80:
			t[c] = classHigh
		}
	}
	t[0] |= classNUL
	return t
}()

// The parts of a byteClasses entry.
const (
	classEscapeBytes = 0x0f
	classNUL         = 0x40
	classHigh        = 0x80
)

func uintSize(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
