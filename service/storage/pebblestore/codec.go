package pebblestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/livestore-sync/livestore-sync/service/storage"
)

// Value encoding. Every value starts with a format version byte; version 1 is:
//
//	metadata = 0x01 string(BackendID) uvarint(Head) varint(CreatedAt, Unix ms)
//	           uvarint(EventCount) uvarint(EventBytes)
//	event    = 0x01 string(Name) string(Args) uvarint(ParentSeqNum) string(ClientID)
//	           string(SessionID) varint(CreatedAt)
//	string   = uvarint(len) bytes
//
// An event's seqNum is in its key, not in its value. A decoder rejects a value with another
// version, a truncated value and a value with bytes left over.

// formatV1 is the version byte of the encoding above.
const formatV1 byte = 1

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
	d := newDecoder(b)
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

// appendEvent appends the encoding of r, without its SeqNum, to dst.
func appendEvent(dst []byte, r *storage.Record) []byte {
	dst = append(dst, formatV1)
	dst = appendString(dst, r.Name)
	dst = appendString(dst, r.Args)
	dst = binary.AppendUvarint(dst, r.ParentSeqNum)
	dst = appendString(dst, r.ClientID)
	dst = appendString(dst, r.SessionID)
	return binary.AppendVarint(dst, r.CreatedAt)
}

// decodeEvent decodes the event value b of the event seq. The record does not share memory
// with b: its strings are substrings of one copy of b.
func decodeEvent(b []byte, seq uint64) (storage.Record, error) {
	d := newDecoder(b)
	r := storage.Record{SeqNum: seq}
	r.Name = d.string()
	r.Args = d.string()
	r.ParentSeqNum = d.uvarint()
	r.ClientID = d.string()
	r.SessionID = d.string()
	r.CreatedAt = d.varint()
	if err := d.finish(); err != nil {
		return storage.Record{}, fmt.Errorf("%w: value of event %d: %w", ErrCorrupt, seq, err)
	}
	return r, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads a value field by field. After the first error every read returns a zero value,
// and finish reports the error.
type decoder struct {
	b   []byte // the value
	s   string // a copy of the value, made on the first string read, for substrings
	off int    // the read offset in b
	err error
}

// newDecoder returns a decoder positioned after b's version byte, or one that has failed when
// the version is not formatV1.
func newDecoder(b []byte) decoder {
	d := decoder{b: b}
	switch {
	case len(b) == 0:
		d.err = errors.New("empty value")
	case b[0] != formatV1:
		d.err = fmt.Errorf("unknown format version %d", b[0])
	default:
		d.off = 1
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
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)-d.off) {
		d.err = fmt.Errorf("truncated at byte %d: string of %d bytes, %d left", d.off, n, len(d.b)-d.off)
		return ""
	}
	if n == 0 {
		return ""
	}
	if d.s == "" {
		d.s = string(d.b)
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
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
