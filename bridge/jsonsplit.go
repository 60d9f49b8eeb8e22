package bridge

import "encoding/json"

// splitObject splits raw, a JSON object, into its members, as json.Unmarshal into a
// map[string]json.RawMessage does (the last of duplicate keys wins; each value is its text
// without the white space around it), in one light pass instead of Unmarshal's two full ones
// (checking, then decoding): a push frame is one object holding up to a few megabytes of events,
// split twice (the frame, then its payload).
//
// raw must be valid JSON (json.Valid); splitObject only looks for the members' bounds. It
// reports false for an object whose keys hold escapes, control characters or bytes above ASCII
// (Unmarshal unescapes or repairs those): the caller then falls back to Unmarshal.
func splitObject(raw []byte) (map[string]json.RawMessage, bool) {
	out, _, ok := splitObjectWith(raw, "", nil)
	return out, ok
}

// splitObjectWith is splitObject that also splits the value of the member named nested (the last
// one, as with every key) when it is an object, in the same pass: inner is then what
// splitObject(outer[nested]) gives, and nil when that would report false. A push frame's payload
// is split so, instead of being skipped over first and split again after. When decodeInner is
// set, the values of inner's members are offered to it before they are skipped over.
func splitObjectWith(raw []byte, nested string, decodeInner memberDecoder) (outer, inner map[string]json.RawMessage, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, nil, false
	}
	outer, inner, end, ok := splitMembers(raw, i, nested, decodeInner, nil)
	if !ok || skipSpace(raw, end) != len(raw) {
		return nil, nil, false
	}
	return outer, inner, true
}

// memberDecoder decodes, while an object is split, the value of its member key that starts at
// raw[i], and returns the index after it; reporting false, it leaves the value to be skipped over
// as any other.
type memberDecoder func(key string, raw []byte, i int) (end int, ok bool)

// splitMembers splits the object that starts at raw[i] (its '{') into its members, and returns
// the index after it; nested and decodeInner are as for splitObjectWith (nested "": none), and
// decode, when set, is offered this object's values.
func splitMembers(raw []byte, i int, nested string, decodeInner, decode memberDecoder) (out, inner map[string]json.RawMessage, end int, ok bool) {
	out = make(map[string]json.RawMessage, 8)
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return out, nil, i + 1, true
	}
	for i < len(raw) {
		if raw[i] != '"' {
			return nil, nil, 0, false
		}
		start := i + 1
		i = start
		for i < len(raw) && raw[i] != '"' {
			if c := raw[i]; c == '\\' || c < 0x20 || c >= 0x80 {
				return nil, nil, 0, false
			}
			i++
		}
		if i >= len(raw) {
			return nil, nil, 0, false
		}
		key := string(raw[start:i])
		i = skipSpace(raw, i+1)
		if i >= len(raw) || raw[i] != ':' {
			return nil, nil, 0, false
		}
		i = skipSpace(raw, i+1)
		end, ok := 0, false
		if nested != "" && key == nested {
			inner = nil
			if i < len(raw) && raw[i] == '{' {
				var members map[string]json.RawMessage
				if members, _, end, ok = splitMembers(raw, i, "", nil, decodeInner); ok {
					inner = members
				}
			}
		}
		if !ok && decode != nil {
			end, ok = decode(key, raw, i)
		}
		if !ok {
			if end, ok = skipValue(raw, i); !ok {
				return nil, nil, 0, false
			}
		}
		out[key] = json.RawMessage(raw[i:end:end])
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return nil, nil, 0, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return out, inner, i + 1, true
		default:
			return nil, nil, 0, false
		}
	}
	return nil, nil, 0, false
}

// skipSpace returns the index of the first byte of raw at or after i that is not JSON white
// space.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index just after the JSON value that starts at raw[i], which must be
// valid JSON: strings are skipped to their closing quote, objects and arrays to their closing
// bracket, anything else (numbers, true, false, null) to the next delimiter.
func skipValue(raw []byte, i int) (int, bool) {
	if i >= len(raw) {
		return 0, false
	}
	switch raw[i] {
	case '"':
		end := skipString(raw, i)
		return end, end >= 0
	case '{', '[':
		depth := 0
		for i < len(raw) {
			switch raw[i] {
			case '"':
				if i = skipString(raw, i); i < 0 {
					return 0, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	default:
		start := i
		for i < len(raw) {
			switch raw[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i, i > start
			}
			i++
		}
		return i, i > start
	}
}
