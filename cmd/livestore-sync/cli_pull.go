package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
)

// eventFormatHelp describes the event format in the --help of the commands that write it.
const eventFormatHelp = `Each event is one JSON object, in LiveStore's encoding plus the time the server stored it:

  {"name":…,"args":…,"seqNum":…,"parentSeqNum":…,"clientId":…,"sessionId":…,"createdAt":"…"}

args is written exactly as it was pushed, byte for byte, and left out when the event has none.
An args value that was pushed with line breaks inside spans several lines; import reads it back
unchanged.`

// pull pulls a store's events after the cursor from and calls page for each page, in order.
// Without live it returns after the last page; with live it goes on until ctx ends. Errors of
// the server are returned as the Connect client gives them.
func (c *client) pull(ctx context.Context, store string, from uint64, live bool, page func(*syncv1.PullResponse) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before the stream is closed: a live stream does not end by itself
	req := &syncv1.PullRequest{StoreId: store, Live: live}
	if from > 0 {
		req.Cursor = &syncv1.Cursor{EventSequenceNumber: from}
	}
	stream, err := c.sync.Pull(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
		if err := page(stream.Msg()); err != nil {
			return err
		}
	}
	return stream.Err()
}

// tailCmd runs `livestore-sync tail`: it prints a store's events as they are pushed.
func tailCmd(env *cliEnv, args []string) error {
	fs := newFlagSet("tail", "tail STORE [--from N] [--no-follow] [flags]",
		`Prints the events of STORE on stdout, one JSON object per event, from the start of its log
(or after seqNum N), then every event pushed later, until interrupted (Ctrl-C, which exits 0).

`+eventFormatHelp+`

If the live pull ends (server shut down, store reset or deleted, reader too slow), tail exits 1
and says from which seqNum to resume with --from. With --admin-secret, a missing store is an
error (exit 3); without it, tail cannot tell, and the store is created empty as on any pull.`, env.stderr)
	cf := addClientFlags(fs)
	from := fs.Uint64("from", 0, "print the events after seqNum `N` (0: the whole log)")
	noFollow := fs.Bool("no-follow", false, "print the events stored now and exit, without following")
	c, store, err := parseStoreCmd(fs, cf, args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(env.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.checkExists(ctx, store); err != nil {
		return interrupted(ctx, err)
	}
	out := bufio.NewWriter(env.stdout)
	last, started := *from, false
	var buf []byte
	err = c.pull(ctx, store, *from, !*noFollow, func(page *syncv1.PullResponse) error {
		started = true
		buf = buf[:0]
		for _, p := range page.GetBatch() {
			buf = appendEventLine(buf, p)
			last = p.GetEvent().GetSeqNum()
		}
		if _, err := out.Write(buf); err != nil {
			return err
		}
		return out.Flush() // show each page at once, also through pipes
	})
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err = interrupted(ctx, err); err == nil {
		return nil
	}
	resume := "resume with: livestore-sync tail --from " + strconv.FormatUint(last, 10) + " " + shellArg(store)
	switch connect.CodeOf(err) {
	case connect.CodeNotFound:
		return exitError{exitNotFound, fmt.Errorf("store %q was deleted", store)}
	case connect.CodeFailedPrecondition:
		return exitError{exitFailure, fmt.Errorf("store %q was reset: its events are gone and it has a new backend id; start again without --from", store)}
	case connect.CodeResourceExhausted:
		return exitError{exitFailure, fmt.Errorf("tail fell behind the pushes to store %q and the server ended it; %s", store, resume)}
	case connect.CodeUnavailable, connect.CodeUnknown, connect.CodeInternal:
		if started && !*noFollow {
			return exitError{exitFailure, fmt.Errorf("%v; %s", c.explain(err, store, false), resume)}
		}
	}
	return c.explain(err, store, false)
}

// interrupted returns nil when ctx has ended (the user interrupted the command), err otherwise.
func interrupted(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// exportCmd runs `livestore-sync export`: it writes a store's whole log.
func exportCmd(env *cliEnv, args []string) error {
	fs := newFlagSet("export", "export STORE [--out FILE] [--from N] [flags]",
		`Writes the events of STORE, as stored when export starts, to stdout or FILE: one JSON
object per event, in order. livestore-sync import reads this format back.

`+eventFormatHelp+`

With --out, the file appears only once the export is complete. With --admin-secret, a missing
store is an error (exit 3); without it, export cannot tell, and the store is created empty as on
any pull. A progress counter is shown on stderr when it is a terminal.`, env.stderr)
	cf := addClientFlags(fs)
	outPath := fs.String("out", "", "write to `FILE` instead of stdout (replaced if it exists; created with mode 0600)")
	from := fs.Uint64("from", 0, "export only the events after seqNum `N`")
	c, store, err := parseStoreCmd(fs, cf, args)
	if err != nil {
		return err
	}
	if err := c.checkExists(env.ctx, store); err != nil {
		return err
	}
	var w io.Writer = env.stdout
	var file *os.File
	if *outPath != "" {
		// Write next to the target and rename at the end, so that an export that fails leaves
		// no partial file behind that looks complete.
		file, err = os.CreateTemp(filepath.Dir(*outPath), "."+filepath.Base(*outPath)+".*.tmp")
		if err != nil {
			return err
		}
		defer func() {
			if file != nil {
				file.Close()
				os.Remove(file.Name())
			}
		}()
		w = file
	}
	out := bufio.NewWriterSize(w, 1<<20)
	prog := newProgress(env.stderr, "exported")
	var buf []byte
	err = c.pull(env.ctx, store, *from, false, func(page *syncv1.PullResponse) error {
		if prog.total == 0 {
			prog.setTotal(uint64(len(page.GetBatch())) + page.GetPageInfo().GetMoreKnown().GetRemaining())
		}
		buf = buf[:0]
		for _, p := range page.GetBatch() {
			buf = appendEventLine(buf, p)
		}
		prog.add(len(page.GetBatch()))
		_, err := out.Write(buf)
		return err
	})
	prog.done()
	if err != nil {
		return c.explain(err, store, false)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if file != nil {
		if err := file.Sync(); err != nil {
			return err
		}
		if err := file.Close(); err != nil {
			return err
		}
		if err := os.Rename(file.Name(), *outPath); err != nil {
			return err
		}
		file = nil
		fmt.Fprintf(env.stderr, "exported %s of store %q to %s\n", plural(prog.n, "event"), store, *outPath)
	}
	return nil
}
