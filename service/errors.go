package service

import (
	"errors"
	"fmt"
)

// The service's errors. Every transport maps them, in one place each, to its wire form: Connect
// codes with typed details (see connect.go), or LiveStore's error tags in Effect RPC exits (see the
// bridge package).

// ServerAheadError: a push's first event does not continue the store's log at its head. The client
// must pull the events it is missing, rebase and push again.
type ServerAheadError struct {
	// MinimumExpectedNum is the store's head, the parent sequence number a push must start from.
	MinimumExpectedNum uint64
	// ProvidedNum is the parent sequence number of the push's first event.
	ProvidedNum uint64
}

func (e *ServerAheadError) Error() string {
	return fmt.Sprintf("server ahead: store head is %d, push starts after %d", e.MinimumExpectedNum, e.ProvidedNum)
}

// BackendIDMismatchError: a request names a backend id that is not the store's current one.
type BackendIDMismatchError struct {
	// Expected is the store's backend id.
	Expected string
	// Received is the backend id the request carried.
	Received string
}

func (e *BackendIDMismatchError) Error() string {
	return fmt.Sprintf("backend id mismatch: store has %q, request has %q", e.Expected, e.Received)
}

// InvalidBatchError: one event of a push is malformed. Nothing of the push was stored.
type InvalidBatchError struct {
	// Index is the position of the event in the batch, from 0.
	Index int
	// SeqNum is the event's sequence number.
	SeqNum uint64
	// Reason says what is wrong.
	Reason string
}

func (e *InvalidBatchError) Error() string {
	return fmt.Sprintf("invalid batch: event %d (seq_num %d): %s", e.Index, e.SeqNum, e.Reason)
}

// InvalidRequestError: a request is malformed as a whole (bad store id, too many events, …).
type InvalidRequestError struct {
	// Reason says what is wrong.
	Reason string
}

func (e *InvalidRequestError) Error() string { return "invalid request: " + e.Reason }

// ErrLivePullBehind ends a live pull whose queue of undelivered pushes is full: the puller cannot
// keep up. It can pull again from the last sequence number it received.
var ErrLivePullBehind = errors.New("live pull fell behind the store's pushes; pull again from the last event received")

// ErrClosed is returned for requests that arrive, or live pulls still open, while the service
// shuts down.
var ErrClosed = errors.New("sync service is shutting down")

// StorageError wraps a failure of the storage engine. Nothing of the failed push was stored.
type StorageError struct {
	// Op names the operation, e.g. "append".
	Op string
	// Err is the engine's error.
	Err error
}

func (e *StorageError) Error() string { return "storage " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the engine's error.
func (e *StorageError) Unwrap() error { return e.Err }
