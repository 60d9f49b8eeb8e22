package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
)

const (
	// cliID is the clientId and sessionId of pushed events that name none.
	cliID = "livestore-sync-cli"
	// batchEvents is the most events import and push send in one push: as many as a LiveStore
	// client sends, and as a pull page holds.
	batchEvents = service.DefaultPageEvents
	// batchBytes is the most bytes of events, measured as the service measures them
	// (eventjson.PulledEventSize), that import and push send in one push: as many as a LiveStore
	// client sends, and as a pull page holds.
	batchBytes = service.DefaultPageBytes
	// pushAttempts bounds how often push renumbers and retries a batch when other clients
	// pushed to the store at the same time.
	pushAttempts = 10
)

// batch gathers events for one push.
type batch struct {
	events []*syncv1.Event
	// inputs holds the position of each event in the input, from 1.
	inputs []int
	// bytes is the size of the events.
	bytes int
}

// add adds an event, read at position input, of the given size.
func (b *batch) add(e *syncv1.Event, input, size int) {
	b.events = append(b.events, e)
	b.inputs = append(b.inputs, input)
	b.bytes += size
}

// fits tells whether one more event of size bytes fits in the batch. An event always fits in
// an empty batch (the server judges whether it is too large).
func (b *batch) fits(size int) bool {
	return len(b.events) == 0 || len(b.events) < batchEvents && b.bytes+size <= batchBytes
}

// reset empties the batch.
func (b *batch) reset() { *b = batch{events: b.events[:0], inputs: b.inputs[:0]} }

// eventSize is an event's size as the service measures it. Events that are numbered only
// when pushed (auto) are measured with the largest numbers, so that numbering them never makes
// a batch too large.
func eventSize(e *syncv1.Event, auto bool) int {
	if auto {
		return eventjson.PulledEventSizeOf(e.GetName(), e.GetArgs(), e.GetClientId(), e.GetSessionId(), math.MaxUint64, math.MaxUint64)
	}
	return eventjson.PulledEventSize(e)
}

// pusher pushes batches of events to one store.
type pusher struct {
	c     *client
	store string
	// auto: the events have no seqNum; number them after the store's head.
	auto bool
	// head is the store's head as last known; headKnown tells whether it is known yet.
	head      uint64
	headKnown bool
	// pushed counts the events pushed so far.
	pushed int
}

// push pushes b. Auto-numbered events are numbered after the store's head, and numbered again
// and retried when other clients pushed in between.
func (p *pusher) push(ctx context.Context, b *batch) error {
	if len(b.events) == 0 {
		return nil
	}
	if p.auto && !p.headKnown {
		head, err := p.c.head(ctx, p.store)
		if err != nil {
			return err
		}
		p.head, p.headKnown = head, true
	}
	for attempt := 1; ; attempt++ {
		if p.auto {
			for i, e := range b.events {
				e.ParentSeqNum, e.SeqNum = p.head+uint64(i), p.head+uint64(i)+1
			}
		}
		_, err := p.c.sync.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: p.store, Batch: b.events}))
		if err == nil {
			p.head, p.headKnown = b.events[len(b.events)-1].GetSeqNum(), true
			p.pushed += len(b.events)
			return nil
		}
		if ahead, ok := errorDetail[*syncv1.ServerAheadError](err); ok && p.auto && attempt < pushAttempts {
			p.head = ahead.GetMinimumExpectedNum()
			continue
		}
		return p.explain(err, b)
	}
}

// explain says why the server rejected batch b, naming events by their position in the input.
func (p *pusher) explain(err error, b *batch) error {
	if bad, ok := errorDetail[*syncv1.InvalidBatchError](err); ok && int(bad.GetEventIndex()) < len(b.inputs) {
		return exitError{exitFailure, fmt.Errorf("the server rejected input event %d (seqNum %d): %s",
			b.inputs[bad.GetEventIndex()], bad.GetSeqNum(), bad.GetReason())}
	}
	if ahead, ok := errorDetail[*syncv1.ServerAheadError](err); ok {
		head, from := ahead.GetMinimumExpectedNum(), ahead.GetProvidedNum()
		if head > from {
			return exitError{exitFailure, fmt.Errorf("store %q already has events up to seqNum %d, which differ from the input's after seqNum %d: "+
				"import into a new or reset store (livestore-sync stores reset), or give only the events after seqNum %d", p.store, head, from, head)}
		}
		return exitError{exitFailure, fmt.Errorf("store %q has events only up to seqNum %d, but input event %d continues from seqNum %d: the events in between are missing",
			p.store, head, b.inputs[0], from)}
	}
	return p.c.explain(err, p.store, false)
}

// partial adds to err how far the pushes got, when some events were pushed before it, and
// hint.
func (p *pusher) partial(err error, hint string) error {
	if p.pushed == 0 {
		return err
	}
	msg := fmt.Sprintf("pushed before this: %s, up to seqNum %d", plural(p.pushed, "event"), p.head)
	if hint != "" {
		msg += "; " + hint
	}
	return exitError{exitCode(err), fmt.Errorf("%w (%s)", err, msg)}
}

// head returns a store's head: with the AdminService when an admin secret was given, else by
// pulling the store's log. A store that does not exist has head 0.
func (c *client) head(ctx context.Context, store string) (uint64, error) {
	if c.hasSecret {
		st, err := c.getStore(ctx, store)
		var exit exitError
		switch {
		case err == nil:
			return st.GetHead(), nil
		case errors.As(err, &exit) && exit.code == exitNotFound:
			return 0, nil
		}
		// The admin API is off or refuses the secret: pull instead.
	}
	var head uint64
	err := c.pull(ctx, store, 0, false, func(page *syncv1.PullResponse) error {
		if b := page.GetBatch(); len(b) > 0 {
			head = b[len(b)-1].GetEvent().GetSeqNum()
		}
		return nil
	})
	return head, c.explain(err, store, false)
}

// openInput opens path for reading; "" and "-" mean stdin. When stdin is a terminal, it says
// how to end the input.
func openInput(env *cliEnv, path string) (io.Reader, func(), error) {
	if path == "" || path == "-" {
		if isTerminal(env.stdin) {
			fmt.Fprintln(env.stderr, "reading events from stdin, one JSON object per event; end with Ctrl-D")
		}
		return env.stdin, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// importCmd runs `livestore-sync import`: it pushes exported events into a store.
func importCmd(env *cliEnv, args []string) error {
	fs := newFlagSet("import", "import STORE [--in FILE] [flags]",
		`Reads events in the format export writes (one JSON object per event) from stdin or FILE and
pushes them to STORE in batches of at most 100 events and 900,000 bytes, keeping each event's
seqNum, parentSeqNum, clientId, sessionId and args exactly. args is taken byte for byte as it
stands between its colon and the next field, whitespace included, as export writes it.
createdAt in the input is ignored: the server stamps the time it stores the events.

The events must continue the store's log: import into a new or empty store (see livestore-sync
stores reset), or give only the events after its head; otherwise the server refuses the first
batch and nothing is imported. Batches are pushed as they are read: when a later batch fails,
the earlier ones are stored, and running the same import again continues where it stopped
(the server acknowledges events it already has, identical, without storing them twice).

Missing clientId and sessionId default to "`+cliID+`".
A progress counter is shown on stderr when it is a terminal.`, env.stderr)
	cf := addClientFlags(fs)
	inPath := fs.String("in", "-", "read the events from `FILE` ('-': stdin)")
	c, store, err := parseStoreCmd(fs, cf, args)
	if err != nil {
		return err
	}
	in, closeIn, err := openInput(env, *inPath)
	if err != nil {
		return err
	}
	defer closeIn()

	p := &pusher{c: c, store: store}
	prog := newProgress(env.stderr, "imported")
	defer prog.done()
	partial := func(err error) error {
		return p.partial(err, "after fixing the cause, run the same import again to continue")
	}
	r := newEventReader(in, true)
	var b batch
	var last uint64
	for {
		ie, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return partial(err)
		}
		if ie.SeqNum == nil {
			return partial(fmt.Errorf("input event %d has no seqNum and parentSeqNum: import restores exported events with their numbers; "+
				"use livestore-sync push to append new events", r.n))
		}
		e := ie.event(cliID)
		if r.n > 1 && e.GetParentSeqNum() != last {
			return partial(fmt.Errorf("input event %d (seqNum %d): parentSeqNum %d is not the previous event's seqNum %d",
				r.n, e.GetSeqNum(), e.GetParentSeqNum(), last))
		}
		last = e.GetSeqNum()
		size := eventSize(e, false)
		if !b.fits(size) {
			if err := p.push(env.ctx, &b); err != nil {
				return partial(err)
			}
			prog.add(len(b.events))
			b.reset()
		}
		b.add(e, r.n, size)
	}
	if err := p.push(env.ctx, &b); err != nil {
		return partial(err)
	}
	prog.add(len(b.events))
	prog.done()
	if p.pushed == 0 {
		fmt.Fprintf(env.stdout, "no events to import into store %q\n", store)
		return nil
	}
	fmt.Fprintf(env.stdout, "imported %s into store %q; its head is now %d\n", plural(p.pushed, "event"), store, last)
	return nil
}

// pushCmd runs `livestore-sync push`: it appends events to a store.
func pushCmd(env *cliEnv, args []string) error {
	fs := newFlagSet("push", "push STORE [--in FILE] [flags]",
		`Reads events from stdin or FILE, one JSON object per event, and pushes them to STORE:

  {"name":"todoCreated-v1","args":{"id":"t1","text":"Buy milk"}}

Only name is required. args is pushed byte for byte as its value is written, without the
whitespace around it (leave it out for none). clientId and sessionId default to
"`+cliID+`". Give seqNum and parentSeqNum on every event or on none: without them,
the events are appended after the store's head and numbered consecutively (when other clients
push at the same time, they are numbered again and retried); with them, they must continue the
store's log.

push reads all its input before pushing; up to 100 events and 900,000 bytes are pushed at once,
all or nothing, larger inputs in several batches. Without --admin-secret, push pulls the store's
log to find its head. It prints how many events it pushed and the store's new head.`, env.stderr)
	cf := addClientFlags(fs)
	inPath := fs.String("in", "-", "read the events from `FILE` ('-': stdin)")
	c, store, err := parseStoreCmd(fs, cf, args)
	if err != nil {
		return err
	}
	in, closeIn, err := openInput(env, *inPath)
	if err != nil {
		return err
	}
	defer closeIn()

	// Read and check everything first, so that a mistake in the input pushes nothing.
	r := newEventReader(in, false)
	var (
		events []*syncv1.Event
		auto   bool
	)
	for {
		ie, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if r.n == 1 {
			auto = ie.SeqNum == nil
		} else if auto != (ie.SeqNum == nil) {
			return fmt.Errorf("input event %d and the first event differ in having seqNum and parentSeqNum: give them on every event or on none", r.n)
		}
		e := ie.event(cliID)
		if !auto && len(events) > 0 && e.GetParentSeqNum() != events[len(events)-1].GetSeqNum() {
			return fmt.Errorf("input event %d (seqNum %d): parentSeqNum %d is not the previous event's seqNum %d",
				r.n, e.GetSeqNum(), e.GetParentSeqNum(), events[len(events)-1].GetSeqNum())
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		fmt.Fprintf(env.stdout, "no events to push to store %q\n", store)
		return nil
	}

	p := &pusher{c: c, store: store, auto: auto}
	var b batch
	for i, e := range events {
		size := eventSize(e, auto)
		if !b.fits(size) {
			if err := p.push(env.ctx, &b); err != nil {
				return p.partial(err, "")
			}
			b.reset()
		}
		b.add(e, i+1, size)
	}
	if err := p.push(env.ctx, &b); err != nil {
		return p.partial(err, "")
	}
	fmt.Fprintf(env.stdout, "pushed %s to store %q; its head is now %d\n", plural(p.pushed, "event"), store, p.head)
	return nil
}
