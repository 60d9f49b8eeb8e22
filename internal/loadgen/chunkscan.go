package loadgen

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// decodeServerMsg decodes a frame from the server. Chunks, nearly every frame of a run, are
// walked by hand (scanChunk: no reflection, no allocation but the events' slice); anything the
// walk is not sure of, and every other message, goes through encoding/json.
func decodeServerMsg(data []byte, m *serverMsg) error {
	if scanChunk(data, m) {
		return nil
	}
	*m = serverMsg{}
	return json.Unmarshal(data, m)
}

// scanChunk decodes data into m if it is a Chunk in plain JSON: keys without escapes, the
// fields the load generator reads of the types it expects. It returns false, with m in any
// state, for anything else, valid or not.
func scanChunk(data []byte, m *serverMsg) bool {
	*m = serverMsg{Values: m.Values[:0]}
	s := scanner{b: data}
	var seen uint8
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "_tag":
			if !once(&seen, 1) {
				return false
			}
			v, ok := s.str()
			m.Tag = string(v)
			return ok
		case "requestId":
			if !once(&seen, 2) {
				return false
			}
			v, ok := s.str()
			m.RequestID = string(v)
			return ok
		case "values":
			if !once(&seen, 4) {
				return false
			}
			return s.array(func() bool {
				// Reuse the previous frame's slices.
				if n := len(m.Values); n < cap(m.Values) {
					m.Values = m.Values[:n+1]
					m.Values[n] = pullResponse{Batch: m.Values[n].Batch[:0]}
				} else {
					m.Values = append(m.Values, pullResponse{})
				}
				return s.pullResponse(&m.Values[len(m.Values)-1])
			})
		default:
			return s.skipOther(key, "_tag", "requestId", "values")
		}
	})
	s.space()
	return ok && s.i == len(s.b) && m.Tag == "Chunk"
}

func (s *scanner) pullResponse(p *pullResponse) bool {
	var seen uint8
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "batch":
			if !once(&seen, 1) {
				return false
			}
			return s.array(func() bool {
				p.Batch = append(p.Batch, pulledEvent{})
				e := &p.Batch[len(p.Batch)-1].EventEncoded
				var seen uint8
				return s.object(func(key []byte) bool {
					if string(key) != "eventEncoded" {
						return s.skipOther(key, "eventEncoded")
					}
					if !once(&seen, 1) {
						return false
					}
					var seenNums uint8
					return s.object(func(key []byte) bool {
						switch string(key) {
						case "seqNum":
							if !once(&seenNums, 1) {
								return false
							}
							v, ok := s.uint()
							e.SeqNum = v
							return ok
						case "parentSeqNum":
							if !once(&seenNums, 2) {
								return false
							}
							v, ok := s.uint()
							e.ParentSeqNum = v
							return ok
						default:
							return s.skipOther(key, "seqNum", "parentSeqNum")
						}
					})
				})
			})
		case "pageInfo":
			if !once(&seen, 2) {
				return false
			}
			var seenInfo uint8
			return s.object(func(key []byte) bool {
				switch string(key) {
				case "_tag":
					if !once(&seenInfo, 1) {
						return false
					}
					v, ok := s.str()
					p.PageInfo.Tag = string(v)
					return ok
				case "remaining":
					if !once(&seenInfo, 2) {
						return false
					}
					v, ok := s.uint()
					p.PageInfo.Remaining = v
					return ok
				default:
					return s.skipOther(key, "_tag", "remaining")
				}
			})
		case "backendId":
			if !once(&seen, 4) {
				return false
			}
			v, ok := s.str()
			p.BackendID = string(v)
			return ok
		default:
			return s.skipOther(key, "batch", "pageInfo", "backendId")
		}
	})
}

// once marks bit in seen and tells whether it was unmarked: the walker leaves objects that
// repeat a key it reads to encoding/json, whose handling of repeats it does not copy.
func once(seen *uint8, bit uint8) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// scanner walks JSON text. Its methods return false when the text is not what they expect, or
// not plain enough for them (escapes in keys and read strings, numbers other than unsigned
// integers).
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) consume(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes, of valid UTF-8, and returns its contents.
func (s *scanner) str() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	end := bytes.IndexByte(s.b[s.i:], '"')
	if end < 0 {
		return nil, false
	}
	v := s.b[s.i : s.i+end]
	if bytes.IndexByte(v, '\\') >= 0 {
		return nil, false
	}
	for _, c := range v {
		if c < 0x20 {
			return nil, false
		}
	}
	if !utf8.Valid(v) {
		return nil, false // encoding/json puts U+FFFD in place of invalid bytes
	}
	s.i += end + 1
	return v, true
}

// uint reads an unsigned integer without sign, fraction or exponent.
func (s *scanner) uint() (uint64, bool) {
	s.space()
	start := s.i
	var v uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		d := uint64(s.b[s.i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
		s.i++
	}
	n := s.i - start
	if n == 0 || (n > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	return v, true
}

// object reads an object, calling member for each key; member must read the value.
func (s *scanner) object(member func(key []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.consume(':') || !member(key) {
			return false
		}
		if s.consume('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// array reads an array, calling elem for each element; elem must read it.
func (s *scanner) array(elem func() bool) bool {
	if !s.consume('[') {
		return false
	}
	if s.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.consume(']') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// skipOther steps over the value of key, a key other than names; it fails when key matches one
// of them but for case, which encoding/json would take for that name.
func (s *scanner) skipOther(key []byte, names ...string) bool {
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return false
		}
	}
	return s.skip()
}

// skip steps over one value of any kind. It checks brackets and strings, not every detail of
// the grammar: encoding/json would refuse some texts it steps over, which is harmless for the
// fields the load generator reads.
func (s *scanner) skip() bool {
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.skipString()
	case c == '{' || c == '[':
		var stack []byte
		for s.i < len(s.b) {
			switch c := s.b[s.i]; c {
			case '"':
				if !s.skipString() {
					return false
				}
				continue
			case '{', '[':
				stack = append(stack, c)
			case '}', ']':
				if len(stack) == 0 || stack[len(stack)-1] != c-2 {
					return false
				}
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	default:
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.i > start
			case '"', '{', '[', ':':
				return false
			}
			s.i++
		}
		return s.i > start
	}
}

// skipString steps over a string, escapes included.
func (s *scanner) skipString() bool {
	s.i++ // the opening quote
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return true
		}
		s.i++
	}
	return false
}
