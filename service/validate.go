package service

import (
	"fmt"
	"strings"
	"unicode/utf8"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
)

// checkStoreID rejects empty, overlong and invalid store ids. Any other UTF-8 string is a store
// id, compared byte for byte.
func (s *Service) checkStoreID(id string) error {
	if id == "" {
		return &InvalidRequestError{Reason: "store_id is empty"}
	}
	return s.checkStoreIDText(id)
}

// checkStoreIDText rejects store ids that are too long, not valid UTF-8 or hold U+0000 (the
// empty id passes: connections may name it, and their pushes and pulls then fail in
// checkStoreID).
func (s *Service) checkStoreIDText(id string) error {
	switch {
	case len(id) > s.limits.MaxStoreIDBytes:
		return &InvalidRequestError{Reason: fmt.Sprintf("store_id is %d bytes long, more than the limit of %d", len(id), s.limits.MaxStoreIDBytes)}
	case !utf8.ValidString(id):
		return &InvalidRequestError{Reason: "store_id is not valid UTF-8"}
	case strings.IndexByte(id, 0) >= 0:
		return &InvalidRequestError{Reason: "store_id holds the character U+0000"}
	}
	return nil
}

// validateBatch checks a push's events on their own, before the store is looked at: the limits,
// each event's fields, and that the events chain (each event's parent is the previous event's
// seq_num, and seq_num grows).
func (s *Service) validateBatch(batch []*syncv1.Event) error {
	if len(batch) > s.limits.MaxEventsPerPush {
		return &InvalidRequestError{Reason: fmt.Sprintf("push carries %d events, more than the limit of %d", len(batch), s.limits.MaxEventsPerPush)}
	}
	total := 0
	for i, e := range batch {
		bad := func(format string, args ...any) error {
			return &InvalidBatchError{Index: i, SeqNum: e.GetSeqNum(), Reason: fmt.Sprintf(format, args...)}
		}
		if e.GetName() == "" {
			return bad("name is empty")
		}
		name, client, session := eventjson.ScanString(e.GetName()), eventjson.ScanString(e.GetClientId()), eventjson.ScanString(e.GetSessionId())
		if field := invalidUTF8Field(e, name, client, session); field != "" {
			return bad("%s is not valid UTF-8", field)
		}
		if field := nulField(name, client, session); field != "" {
			return bad("%s holds the character U+0000", field)
		}
		if e.GetSeqNum() <= e.GetParentSeqNum() {
			return bad("seq_num %d is not greater than parent_seq_num %d", e.GetSeqNum(), e.GetParentSeqNum())
		}
		if i > 0 && e.GetParentSeqNum() != batch[i-1].GetSeqNum() {
			return bad("parent_seq_num %d is not the previous event's seq_num %d", e.GetParentSeqNum(), batch[i-1].GetSeqNum())
		}
		if args := e.GetArgs(); args != "" && !eventjson.ValidString(args) {
			return bad("args is not valid JSON")
		}
		size := eventjson.PulledEventSizeEncoded(eventjson.EventSizeOfSized(name.Size, e.GetArgs(), client.Size, session.Size, e.GetSeqNum(), e.GetParentSeqNum()))
		if size > s.limits.MaxEventBytes {
			return bad("event is %d bytes, more than the limit of %d", size, s.limits.MaxEventBytes)
		}
		total += size
	}
	if total > s.limits.MaxPushBytes {
		return &InvalidRequestError{Reason: fmt.Sprintf("push carries %d bytes of events, more than the limit of %d", total, s.limits.MaxPushBytes)}
	}
	return nil
}

// invalidUTF8Field names the first text field of e that is not valid UTF-8, or returns "", given
// the scans of its name, client id and session id (a field of ASCII only is valid). Over Connect
// and gRPC, protobuf has checked already; LiveStore's transports hand over JSON text as
// received.
func invalidUTF8Field(e *syncv1.Event, name, client, session eventjson.StringScan) string {
	switch {
	case !name.ASCII && !utf8.ValidString(e.GetName()):
		return "name"
	case !utf8.ValidString(e.GetArgs()):
		return "args"
	case !client.ASCII && !utf8.ValidString(e.GetClientId()):
		return "client_id"
	case !session.ASCII && !utf8.ValidString(e.GetSessionId()):
		return "session_id"
	}
	return ""
}

// nulField names the first of an event's name, client_id and session_id that holds U+0000, or
// returns "", given their scans. No LiveStore client makes such ids, and SQL databases cannot
// keep them as text (args cannot hold a raw U+0000 either: JSON escapes it).
func nulField(name, client, session eventjson.StringScan) string {
	switch {
	case name.NUL:
		return "name"
	case client.NUL:
		return "client_id"
	case session.NUL:
		return "session_id"
	}
	return ""
}
