package eventjson

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Event is an event's fields, as ParseEvent reads them.
type Event struct {
	Name, Args, ClientID, SessionID string
	SeqNum, ParentSeqNum            uint64
}

// ParseEvent parses b, an event encoded by AppendEventOf (keys in its order, "args" absent when
// empty), and returns its fields; Args is the args' JSON text exactly as it stands in b, white
// space around the value included. Its strings share memory with one copy of b: the only
// allocation, which also holds the decoded strings that have escapes.
//
// It returns an error for any other input: another key order, missing or extra keys, white space
// outside args, trailing bytes, numbers that are not decimal uint64s without sign or leading zero,
// strings with bad escapes or raw control characters, empty args or args that are not JSON text as
// Valid checks it (so nested at most 10000 deep). Escapes are decoded as encoding/json decodes
// them (a lone UTF-16 surrogate becomes U+FFFD); other bytes, invalid UTF-8 included, are copied
// through. It never panics and uses no recursion.
func ParseEvent(b []byte) (Event, error) {
	var (
		spans [3]strSpan // name, clientId, sessionId
		ev    Event
		err   error
	)
	i := 0
	if i, err = expect(b, i, `{"name":`); err != nil {
		return Event{}, err
	}
	if spans[0], i, err = scanString(b, i, "name"); err != nil {
		return Event{}, err
	}
	argsStart, argsEnd := 0, 0
	if hasPrefixAt(b, i, `,"args":`) {
		argsStart = i + len(`,"args":`)
		if argsEnd, err = skipArgs(b, argsStart); err != nil {
			return Event{}, err
		}
		if !Valid(b[argsStart:argsEnd]) {
			return Event{}, errAt("args is not JSON text", argsStart)
		}
		i = argsEnd
	}
	if i, err = expect(b, i, `,"seqNum":`); err != nil {
		return Event{}, err
	}
	if ev.SeqNum, i, err = scanUint(b, i, "seqNum"); err != nil {
		return Event{}, err
	}
	if i, err = expect(b, i, `,"parentSeqNum":`); err != nil {
		return Event{}, err
	}
	if ev.ParentSeqNum, i, err = scanUint(b, i, "parentSeqNum"); err != nil {
		return Event{}, err
	}
	if i, err = expect(b, i, `,"clientId":`); err != nil {
		return Event{}, err
	}
	if spans[1], i, err = scanString(b, i, "clientId"); err != nil {
		return Event{}, err
	}
	if i, err = expect(b, i, `,"sessionId":`); err != nil {
		return Event{}, err
	}
	if spans[2], i, err = scanString(b, i, "sessionId"); err != nil {
		return Event{}, err
	}
	if i, err = expect(b, i, `}`); err != nil {
		return Event{}, err
	}
	if i != len(b) {
		return Event{}, errAt("trailing bytes after the event", i)
	}

	// The one copy: b, then the decoded strings that have escapes (each no longer than its
	// escaped form).
	n := len(b)
	for _, sp := range spans {
		if sp.escaped {
			n += sp.end - sp.start
		}
	}
	var sb strings.Builder
	sb.Grow(n)
	sb.Write(b)
	for k := range spans {
		if sp := &spans[k]; sp.escaped {
			start := sb.Len()
			unquote(&sb, b[sp.start:sp.end])
			sp.start, sp.end = start, sb.Len()
		}
	}
	s := sb.String()
	ev.Name = s[spans[0].start:spans[0].end]
	ev.ClientID = s[spans[1].start:spans[1].end]
	ev.SessionID = s[spans[2].start:spans[2].end]
	ev.Args = s[argsStart:argsEnd]
	return ev, nil
}

// strSpan is where a string's contents (without the quotes) stand in the input, and whether they
// have escapes to decode.
type strSpan struct {
	start, end int
	escaped    bool
}

// errAt is the error for what is wrong at byte i.
func errAt(what string, i int) error {
	return fmt.Errorf("eventjson: event: %s at byte %d", what, i)
}

// hasPrefixAt reports whether b[i:] starts with lit.
func hasPrefixAt(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// expect checks that b[i:] starts with lit and returns the index after it, or the error at the
// first byte that differs.
func expect(b []byte, i int, lit string) (int, error) {
	if hasPrefixAt(b, i, lit) {
		return i + len(lit), nil
	}
	k := 0
	for i+k < len(b) && b[i+k] == lit[k] {
		k++
	}
	if i+k == len(b) {
		return 0, errAt("unexpected end of input, want "+lit, i+k)
	}
	return 0, errAt("unexpected "+quoteByte(b[i+k])+", want "+lit, i+k)
}

// quoteByte is c as error messages show it.
func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// scanUint reads the decimal uint64 at b[i:], the value of key, and returns it and the index
// after it.
func scanUint(b []byte, i int, key string) (uint64, int, error) {
	start := i
	var v uint64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, 0, errAt(key+" overflows uint64", start)
		}
		v = v*10 + d
	}
	switch {
	case i == start && i == len(b):
		return 0, 0, errAt("unexpected end of input, want the "+key+" number", i)
	case i == start:
		return 0, 0, errAt("unexpected "+quoteByte(b[i])+", want the "+key+" number (a uint64)", i)
	case b[start] == '0' && i-start > 1:
		return 0, 0, errAt(key+" has a leading zero", start)
	}
	return v, i, nil
}

// scanString checks the JSON string at b[i:], the value of key, and returns where its contents
// stand and the index after it.
func scanString(b []byte, i int, key string) (strSpan, int, error) {
	if i == len(b) {
		return strSpan{}, 0, errAt("unexpected end of input, want the "+key+" string", i)
	}
	if b[i] != '"' {
		return strSpan{}, 0, errAt("unexpected "+quoteByte(b[i])+", want the "+key+" string", i)
	}
	sp := strSpan{start: i + 1}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			sp.end = i
			return sp, i + 1, nil
		case c < 0x20:
			return strSpan{}, 0, errAt("raw control character "+quoteByte(c)+" in the "+key+" string", i)
		case c == '\\':
			sp.escaped = true
			if i+1 == len(b) {
				return strSpan{}, 0, errAt("unexpected end of input in an escape of the "+key+" string", i+1)
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(b)-(i+2) < 4 {
					return strSpan{}, 0, errAt("unexpected end of input in a \\u escape of the "+key+" string", len(b))
				}
				for k := i + 2; k < i+6; k++ {
					if hexValue(b[k]) < 0 {
						return strSpan{}, 0, errAt("bad hex digit "+quoteByte(b[k])+" in a \\u escape of the "+key+" string", k)
					}
				}
				i += 5
			default:
				return strSpan{}, 0, errAt("bad escape character "+quoteByte(e)+" in the "+key+" string", i+1)
			}
		}
	}
	return strSpan{}, 0, errAt("unexpected end of input in the "+key+" string", i)
}

// hexValue is the value of the hex digit c, or -1.
func hexValue(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// hex4 is the value of the \u escape at s[i:] (i at the backslash), or -1 when there is none.
func hex4(s []byte, i int) rune {
	if len(s)-i < 6 || s[i] != '\\' || s[i+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[i+2 : i+6] {
		h := hexValue(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | h
	}
	return r
}

// unquote writes to sb the decoded contents s of a string that scanString checked, as
// encoding/json decodes them: a UTF-16 surrogate pair is one character, a surrogate that is not
// part of a pair U+FFFD; other bytes are copied through.
func unquote(sb *strings.Builder, s []byte) {
	start := 0
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			i++
			continue
		}
		sb.Write(s[start:i])
		switch s[i+1] {
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r := hex4(s, i)
			i += 6
			if utf16.IsSurrogate(r) {
				if dec := utf16.DecodeRune(r, hex4(s, i)); dec != unicode.ReplacementChar {
					r = dec
					i += 6
				} else {
					r = unicode.ReplacementChar
				}
			}
			sb.WriteRune(r)
			start = i
			continue
		default: // '"', '\\', '/'
			sb.WriteByte(s[i+1])
		}
		i += 2
		start = i
	}
	sb.Write(s[start:])
}

// skipArgs finds the end of the args value at b[i:] (white space around it included): the
// brackets of objects and arrays are counted, skipping strings, and other values end before white
// space or a comma. Valid checks the grammar of what it spans.
func skipArgs(b []byte, i int) (int, error) {
	i = skipSpace(b, i)
	if i == len(b) {
		return 0, errAt("unexpected end of input, want the args value", i)
	}
	switch b[i] {
	case '{', '[':
		depth := 0
	brackets:
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, err := skipRawString(b, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					i++
					break brackets
				}
			}
		}
		if depth != 0 {
			return 0, errAt("unexpected end of input, unbalanced brackets in args", i)
		}
	case '"':
		end, err := skipRawString(b, i)
		if err != nil {
			return 0, err
		}
		i = end
	case ',':
		return 0, errAt("empty args", i)
	default:
		for i < len(b) && b[i] != ',' && !isSpace(b[i]) {
			i++
		}
	}
	return skipSpace(b, i), nil
}

// skipRawString returns the index after the JSON string at b[i:] (which starts with '"'),
// skipping the byte after each backslash.
func skipRawString(b []byte, i int) (int, error) {
	start := i
	for i++; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i + 1, nil
		case '\\':
			i++
		}
	}
	return 0, errAt("unterminated string in args", start)
}

// isSpace reports whether c is JSON white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first byte from b[i:] that is not white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}
