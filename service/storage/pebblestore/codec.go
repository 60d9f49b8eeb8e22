package pebblestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/livestore-sync/livestore-sync/service/storage"
)

// Value encoding. Every value starts with a format version byte:
//
//	metadata = 0x01 string(BackendID) uvarint(Head) varint(CreatedAt, Unix ms)
//	           uvarint(EventCount) uvarint(EventBytes)
//	event    = 0x02 varint(CreatedAt) string(Encoded)
//	         | 0x01 string(Name) string(Args) uvarint(ParentSeqNum) string(ClientID)
//	           string(SessionID) varint(CreatedAt)
//	string   = uvarint(len) bytes
//
// An event's seqNum is in its key, not in its value. Events are written in version 2, their
// LiveStore JSON encoding (storage.Record.Encoded, a JSON object), so that a pull sends them as
// they are; version 1, the fields, was written before (and still is for a record without
// Encoded), and is read as before. A decoder rejects a value with another version, a truncated
// value and a value with bytes left over.

// formatV1 is the version byte of metadata values and of the first encoding of events.
const formatV1 byte = 1

// formatV2 is the version byte of events kept in their JSON encoding.
const formatV2 byte = 2

// ErrCorrupt is wrapped by the errors for stored data that cannot be decoded: an unknown format
// version, a truncated value or a malformed key.
var ErrCorrupt = errors.New("pebblestore: corrupt data")

// appendMeta appends the encoding of info to dst. CreatedAt is kept in Unix milliseconds.
func appendMeta(dst []byte, info *storage.StoreInfo) []byte {
	dst = append(dst, formatV1)
	dst = appendString(dst, info.BackendID)
	dst = binary.AppendUvarint(dst, info.Head)
	dst = binary.AppendVarint(dst, info.CreatedAt.UnixMilli())
	dst = binary.AppendUvarint(dst, info.EventCount)
	return binary.AppendUvarint(dst, info.EventBytes)
}

// decodeMeta decodes a metadata value. CreatedAt comes back in UTC.
func decodeMeta(b []byte) (storage.StoreInfo, error) {
	d := newDecoder(b, formatV1)
	var info storage.StoreInfo
	info.BackendID = d.string()
	info.Head = d.uvarint()
	info.CreatedAt = time.UnixMilli(d.varint()).UTC()
	info.EventCount = d.uvarint()
	info.EventBytes = d.uvarint()
	if err := d.finish(); err != nil {
		return storage.StoreInfo{}, fmt.Errorf("%w: metadata value: %w", ErrCorrupt, err)
	}
	return info, nil
}

// appendEvent appends the encoding of r, without its SeqNum, to dst: version 2 when r has its
// Encoded bytes, else version 1.
func appendEvent(dst []byte, r *storage.Record) []byte {
	if r.Encoded != nil {
		dst = append(dst, formatV2)
		dst = binary.AppendVarint(dst, r.CreatedAt)
		dst = binary.AppendUvarint(dst, uint64(len(r.Encoded)))
		return append(dst, r.Encoded...)
	}
	dst = append(dst, formatV1)
	dst = appendString(dst, r.Name)
	dst = appendString(dst, r.Args)
	dst = binary.AppendUvarint(dst, r.ParentSeqNum)
	dst = appendString(dst, r.ClientID)
	dst = appendString(dst, r.SessionID)
	return binary.AppendVarint(dst, r.CreatedAt)
}

// decodeEvent decodes the event value b of the event seq. The record does not share memory
// with b: the Encoded bytes of a version 2 value are copied into a (a fresh slice when a is
// nil); the strings of a version 1 value are substrings of one copy of b.
func decodeEvent(b []byte, seq uint64, a *arena) (storage.Record, error) {
	d := newDecoder(b, formatV1, formatV2)
	r := storage.Record{SeqNum: seq}
	if d.version == formatV2 {
		r.CreatedAt = d.varint()
		if enc := d.bytes(); d.err == nil {
			if len(enc) < 2 || enc[0] != '{' || enc[len(enc)-1] != '}' {
				d.err = errors.New("encoded event is not a JSON object")
			} else {
				r.Encoded = a.copy(enc)
			}
		}
	} else {
		r.Name = d.string()
		r.Args = d.string()
		r.ParentSeqNum = d.uvarint()
		r.ClientID = d.string()
		r.SessionID = d.string()
		r.CreatedAt = d.varint()
	}
	if err := d.finish(); err != nil {
		return storage.Record{}, fmt.Errorf("%w: value of event %d: %w", ErrCorrupt, seq, err)
	}
	return r, nil
}

// arena hands out copies of byte strings from shared blocks: a few allocations for the events
// of one read, which are held and dropped together, rather than one per event.
type arena struct {
	block []byte
	// expect is how many more copies the arena expects to make (the events a read may still
	// return): a new block has room for that many copies the size of the one that needs it.
	expect int
}

// maxArenaBlock bounds the size of an arena's blocks (a copy larger than that gets a block of
// its own size).
const maxArenaBlock = 64 << 10

// copy returns a copy of b. A nil arena allocates the copy on its own.
func (a *arena) copy(b []byte) []byte {
	if a == nil {
		return bytes.Clone(b)
	}
	if cap(a.block)-len(a.block) < len(b) {
		size := len(b) * max(a.expect, 1)
		a.block = make([]byte, 0, max(len(b), min(size, maxArenaBlock)))
	}
	a.expect--
	start := len(a.block)
	a.block = append(a.block, b...)
	return a.block[start:len(a.block):len(a.block)]
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads a value field by field. After the first error every read returns a zero value,
// and finish reports the error.
type decoder struct {
	b       []byte // the value
	s       string // a copy of the value, made on the first string read, for substrings
	off     int    // the read offset in b
	version byte   // the value's format version
	err     error
}

// newDecoder returns a decoder positioned after b's version byte, or one that has failed when
// the version is not one of versions.
func newDecoder(b []byte, versions ...byte) decoder {
	d := decoder{b: b}
	switch {
	case len(b) == 0:
		d.err = errors.New("empty value")
	case !slices.Contains(versions, b[0]):
		d.err = fmt.Errorf("unknown format version %d", b[0])
	default:
		d.off, d.version = 1, b[0]
	}
	return d
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail(n)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail(n)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) string() string {
	b := d.bytes()
	if len(b) == 0 {
		return ""
	}
	if d.s == "" {
		d.s = string(d.b)
	}
	end := d.off
	return d.s[end-len(b) : end]
}

// bytes reads a string as a slice of the value.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.err = fmt.Errorf("truncated at byte %d: string of %d bytes, %d left", d.off, n, len(d.b)-d.off)
		return nil
	}
	b := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return b
}

// fail records the error of a varint read that returned n <= 0.
func (d *decoder) fail(n int) {
	if n == 0 {
		d.err = fmt.Errorf("truncated at byte %d", d.off)
	} else {
		d.err = fmt.Errorf("varint overflow at byte %d", d.off)
	}
}

// finish returns the decoding error, if any, or an error when bytes are left over.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b)-d.off)
	}
	return d.err
}
