package service

import (
	"encoding/json"
	"fmt"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
)

// checkStoreID rejects empty and overlong store ids. Any other UTF-8 string is a store id,
// compared byte for byte.
func (s *Service) checkStoreID(id string) error {
	switch {
	case id == "":
		return &InvalidRequestError{Reason: "store_id is empty"}
	case len(id) > s.limits.MaxStoreIDBytes:
		return &InvalidRequestError{Reason: fmt.Sprintf("store_id is %d bytes long, more than the limit of %d", len(id), s.limits.MaxStoreIDBytes)}
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
		if e.GetSeqNum() <= e.GetParentSeqNum() {
			return bad("seq_num %d is not greater than parent_seq_num %d", e.GetSeqNum(), e.GetParentSeqNum())
		}
		if i > 0 && e.GetParentSeqNum() != batch[i-1].GetSeqNum() {
			return bad("parent_seq_num %d is not the previous event's seq_num %d", e.GetParentSeqNum(), batch[i-1].GetSeqNum())
		}
		if args := e.GetArgs(); args != "" && !json.Valid([]byte(args)) {
			return bad("args is not valid JSON")
		}
		size := eventjson.PulledEventSize(e)
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
