package bridge

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
)

// decodeBatchFast decodes a batch of events in the one form LiveStore's client sends, compact
// JSON.stringify output with the keys in its order:
//
//	[{"name":"…","args":…,"seqNum":1,"parentSeqNum":0,"clientId":"…","sessionId":"…"},…]
//
// with args optional, strings without escapes and valid UTF-8, and sequence numbers plain
// integers. It reports false for anything else, even JSON that means the same: decodeBatch then
// decodes it the general way, so the result is always the general decoder's (the fuzz target
// FuzzDecodeClientMessage checks it). raw must be valid JSON (it is part of a frame that was
// checked as a whole).
//
// It allocates once per batch for the events and once for their text: every string of the batch
// is a part of one copy of raw.
func decodeBatchFast(raw []byte) ([]*syncv1.Event, bool) {
	events, end, ok := decodeBatchFastAt(raw, 0)
	return events, ok && end == len(raw)
}

// decodeBatchFastAt is decodeBatchFast of the array that starts at raw[i] and ends before the
// index it returns, in valid JSON text that may go on after it: a push frame's batch is decoded
// while the frame is split (decodeClientMessage), instead of being skipped over then and decoded
// after. The events' text is a copy of raw from i on.
func decodeBatchFastAt(raw []byte, i int) ([]*syncv1.Event, int, bool) {
	if len(raw)-i < 2 || raw[i] != '[' {
		return nil, 0, false
	}
	rest := raw[i:]
	n := bytes.Count(rest, []byte(`{"name":`)) // at least one per event
	if n == 0 {
		return nil, 0, false
	}
	text := string(rest) // the events' strings are substrings of it
	d := fastDecoder{s: text, i: 1}
	store := make([]syncv1.Event, n)
	events := make([]*syncv1.Event, 0, n)
	for {
		if len(events) == n {
			return nil, 0, false
		}
		e := &store[len(events)]
		if !d.event(e) {
			return nil, 0, false
		}
		events = append(events, e)
		if d.lit(",") {
			continue
		}
		if d.lit("]") {
			return events, i + d.i, true
		}
		return nil, 0, false
	}
}

// fastDecoder reads s from i.
type fastDecoder struct {
	s string
	i int
}

func (d *fastDecoder) event(e *syncv1.Event) bool {
	var ok bool
	if !d.lit(`{"name":`) {
		return false
	}
	if e.Name, ok = d.str(); !ok {
		return false
	}
	if d.lit(`,"args":`) {
		if e.Args, ok = d.value(); !ok {
			return false
		}
	}
	if !d.lit(`,"seqNum":`) {
		return false
	}
	if e.SeqNum, ok = d.uint(); !ok || !d.lit(`,"parentSeqNum":`) {
		return false
	}
	if e.ParentSeqNum, ok = d.uint(); !ok || !d.lit(`,"clientId":`) {
		return false
	}
	if e.ClientId, ok = d.str(); !ok || !d.lit(`,"sessionId":`) {
		return false
	}
	if e.SessionId, ok = d.str(); !ok {
		return false
	}
	return d.lit("}")
}

// lit consumes lit when s continues with it.
func (d *fastDecoder) lit(lit string) bool {
	if len(d.s)-d.i < len(lit) || d.s[d.i:d.i+len(lit)] != lit {
		return false
	}
	d.i += len(lit)
	return true
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (d *fastDecoder) str() (string, bool) {
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return "", false
	}
	start := d.i + 1
	for j := start; j < len(d.s); j++ {
		switch c := d.s[j]; {
		case c == '"':
			v := d.s[start:j]
			if !utf8.ValidString(v) {
				return "", false
			}
			d.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// uint reads a plain decimal integer within uint64.
func (d *fastDecoder) uint() (uint64, bool) {
	j := d.i
	for j < len(d.s) && d.s[j] >= '0' && d.s[j] <= '9' {
		j++
	}
	if j == d.i || (d.s[d.i] == '0' && j > d.i+1) || j-d.i > 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(d.s[d.i:j], 10, 64)
	if err != nil {
		return 0, false
	}
	d.i = j
	return n, true
}

// value reads one JSON value, known to be valid, that starts right here (no space before it)
// and returns its text, which must be valid UTF-8.
func (d *fastDecoder) value() (string, bool) {
	start, end := d.i, -1
	if start >= len(d.s) {
		return "", false
	}
	switch d.s[start] {
	case '"':
		end = skipString(d.s, start)
	case '{', '[':
		depth := 0
		for j := start; j < len(d.s) && end < 0; j++ {
			switch d.s[j] {
			case '"':
				if j = skipString(d.s, j) - 1; j < 0 {
					return "", false
				}
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					end = j + 1
				}
			}
		}
	default: // a number, true, false or null
		j := start
		for j < len(d.s) && (d.s[j] == '-' || d.s[j] == '+' || d.s[j] == '.' ||
			(d.s[j] >= '0' && d.s[j] <= '9') || (d.s[j] >= 'a' && d.s[j] <= 'z') || (d.s[j] >= 'A' && d.s[j] <= 'Z')) {
			j++
		}
		if j > start {
			end = j
		}
	}
	if end < 0 || !utf8.ValidString(d.s[start:end]) {
		return "", false
	}
	d.i = end
	return d.s[start:end], true
}

// skipString returns the index after the JSON string that starts at s[i] (its opening quote),
// or -1 when it does not end.
func skipString[T string | []byte](s T, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}
