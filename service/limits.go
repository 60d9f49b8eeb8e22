package service

import (
	"fmt"

	"github.com/livestore-sync/livestore-sync/service/eventjson"
)

// Default limits. Sizes of events are measured in LiveStore's JSON encoding of a pulled event
// (eventjson.PulledEventSize): what one event adds to a pull page on the LiveStore wire.
const (
	// DefaultMaxStoreIDBytes is the longest store id accepted, in bytes.
	DefaultMaxStoreIDBytes = 512
	// DefaultMaxEventsPerPush is the most events one push may carry. LiveStore clients send at
	// most 100; the original server accepts more, and so do we, up to this bound.
	DefaultMaxEventsPerPush = 1000
	// DefaultPageEvents is the most events in one pull page, as in the original server.
	DefaultPageEvents = 100
	// DefaultPageBytes is the most bytes one pull page takes in LiveStore's JSON encoding, as in
	// the original server (which stays below Cloudflare's 1 MiB WebSocket message limit).
	DefaultPageBytes = 900_000
	// DefaultMaxEventBytes is the largest event accepted: the largest that still fits alone in a
	// pull page, so that every stored event can be pulled.
	DefaultMaxEventBytes = DefaultPageBytes - eventjson.PageOverhead - 1
	// DefaultMaxPushBytes is the most bytes of events one push may carry. LiveStore clients send
	// at most 900,000 bytes per push.
	DefaultMaxPushBytes = 16 << 20
	// DefaultLiveQueueLength is how many pushes a live pull may have waiting for delivery before
	// it is ended with ErrLivePullBehind.
	DefaultLiveQueueLength = 1024
	// DefaultLiveQueueBytes is how many bytes of pushes (in LiveStore's JSON encoding) a live
	// pull may have waiting for delivery before it is ended with ErrLivePullBehind.
	DefaultLiveQueueBytes = 16 << 20
	// DefaultMaxOutgoingBytes is the default budget for the bytes held for clients that have yet
	// to read them, across every connection and transport (Options.OutgoingBudget): live pulls'
	// queues, WebSocket out-queues, HTTP responses. Sized for a small machine; raise it with the
	// memory of the machine.
	DefaultMaxOutgoingBytes = 256 << 20
	// DefaultMaxIdleStores is how many stores no request uses stay in memory (Options.MaxIdleStores):
	// a few hundred bytes each, sparing a metadata read on their next use.
	DefaultMaxIdleStores = 10_000
)

// Limits bounds what one request may do. The zero value of a field means its default.
type Limits struct {
	// MaxStoreIDBytes is the longest store id accepted, in bytes.
	MaxStoreIDBytes int
	// MaxEventsPerPush is the most events one push may carry.
	MaxEventsPerPush int
	// MaxEventBytes is the largest event accepted, in LiveStore JSON bytes. It must leave room
	// for the event alone in a page: at most PageBytes - eventjson.PageOverhead - 1.
	MaxEventBytes int
	// MaxPushBytes is the most bytes of events one push may carry, in LiveStore JSON bytes.
	MaxPushBytes int
	// PageEvents is the most events in one pull page.
	PageEvents int
	// PageBytes is the most bytes of one pull page in LiveStore's JSON encoding.
	PageBytes int
	// LiveQueueLength is how many pushes a live pull may have waiting for delivery.
	LiveQueueLength int
	// LiveQueueBytes is how many bytes of pushes a live pull may have waiting for delivery (a
	// single push larger than it is still delivered when nothing else waits).
	LiveQueueBytes int
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxStoreIDBytes:  DefaultMaxStoreIDBytes,
		MaxEventsPerPush: DefaultMaxEventsPerPush,
		MaxEventBytes:    DefaultMaxEventBytes,
		MaxPushBytes:     DefaultMaxPushBytes,
		PageEvents:       DefaultPageEvents,
		PageBytes:        DefaultPageBytes,
		LiveQueueLength:  DefaultLiveQueueLength,
		LiveQueueBytes:   DefaultLiveQueueBytes,
	}
}

// withDefaults fills zero fields with defaults and checks that the limits fit together.
func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.MaxStoreIDBytes, d.MaxStoreIDBytes)
	set(&l.MaxEventsPerPush, d.MaxEventsPerPush)
	set(&l.PageEvents, d.PageEvents)
	set(&l.PageBytes, d.PageBytes)
	set(&l.MaxEventBytes, min(d.MaxEventBytes, l.PageBytes-eventjson.PageOverhead-1))
	set(&l.MaxPushBytes, d.MaxPushBytes)
	set(&l.LiveQueueLength, d.LiveQueueLength)
	set(&l.LiveQueueBytes, d.LiveQueueBytes)
	for name, v := range map[string]int{
		"MaxStoreIDBytes": l.MaxStoreIDBytes, "MaxEventsPerPush": l.MaxEventsPerPush,
		"MaxEventBytes": l.MaxEventBytes, "MaxPushBytes": l.MaxPushBytes, "PageEvents": l.PageEvents,
		"PageBytes": l.PageBytes, "LiveQueueLength": l.LiveQueueLength, "LiveQueueBytes": l.LiveQueueBytes,
	} {
		if v < 0 {
			return l, fmt.Errorf("limit %s is negative (%d)", name, v)
		}
	}
	if l.MaxEventBytes > l.PageBytes-eventjson.PageOverhead-1 {
		return l, fmt.Errorf("limit MaxEventBytes (%d) leaves no room for an event alone in a page of PageBytes (%d)", l.MaxEventBytes, l.PageBytes)
	}
	return l, nil
}
