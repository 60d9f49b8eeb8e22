package bridge

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/livestore-sync/livestore-sync/service"
)

// HTTP transport (PROTOCOL §6): the body of a sync request with transport=http is one Effect RPC
// message, answered with a JSON array of every message of that request once it has finished
// (not streamed, like the reference). RPC-level outcomes, errors and defects included, are 200
// with the same message encoding as the WebSocket transport.

// gzipMinBytes is the response size above which a response is gzipped when the client allows it.
const gzipMinBytes = 1 << 10

// errRequestTimedOut is the message of the UnknownError that ends a request that ran out of
// Options.RequestTimeout.
const errRequestTimedOut = "request timed out"

// errResponseFull stops a pull whose response reached Options.HTTPResponseLimit, or that the
// outgoing budget cannot hold more of.
var errResponseFull = errors.New("http response limit reached")

// errOverBudget fails a pull whose first page the outgoing budget cannot hold.
var errOverBudget = errors.New("server busy: its memory budget for responses is exhausted; retry later")

// httpResult is the outcome of one HTTP transport request.
type httpResult struct {
	status int
	msgs   [][]byte
	// rpc is the RPC tag, or the message tag when the body was not a Request, for the log.
	rpc string
	// failure says why the request failed, for the log; "" when it succeeded. Never quotes the
	// payload.
	failure string
	// reserved is what msgs took of Options.OutgoingBudget, given back once they are written.
	reserved int64
}

// serveHTTPTransport serves a sync request with transport=http.
func (b *Bridge) serveHTTPTransport(w http.ResponseWriter, r *http.Request, sr syncQuery) {
	if !b.beginHTTP() {
		b.refuseShuttingDown(w, r)
		return
	}
	defer b.endHTTP()
	if !b.httpLimit.acquire() {
		b.refuseOverLimit(w, r, sr, b.httpLimit, "MaxHTTPRequests")
		return
	}
	defer b.httpLimit.release()
	b.opts.Metrics.ConnectionOpened("http")
	defer b.opts.Metrics.ConnectionClosed("http")

	res := b.handleHTTP(w, r, sr)
	defer b.opts.OutgoingBudget.Release(res.reserved)
	if res.failure != "" {
		b.opts.Logger.Info("bridge: http sync request failed",
			"storeId", sr.StoreID, "rpc", res.rpc, "reason", res.failure)
	}
	// Answered even when the request's context has ended: the server ends it too when the client
	// only closed its sending side (after a whole body or part of one), and that client may still
	// read. Writing to a client that is gone costs nothing.
	b.writeHTTPMessages(w, r, res.status, res.msgs)
}

// handleHTTP reads the body of an HTTP transport request and runs it.
func (b *Bridge) handleHTTP(w http.ResponseWriter, r *http.Request, sr syncQuery) httpResult {
	// A client may take RequestTimeout to send its body, so that a slow one cannot hold a place
	// under MaxHTTPRequests for long. The deadline is lifted once the body is in, as the server
	// watches the connection for a client that goes away while the service works.
	if r.ContentLength > b.opts.HTTPBodyLimit {
		// Refused from its headers, without reading it; the connection cannot be reused.
		if r.ProtoMajor == 1 {
			w.Header().Set("Connection", "close")
		}
		return b.bodyFailure(r, &http.MaxBytesError{Limit: b.opts.HTTPBodyLimit})
	}
	rc := http.NewResponseController(w)
	if b.opts.RequestTimeout > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(b.opts.RequestTimeout)) // not every ResponseWriter can (tests)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.opts.HTTPBodyLimit))
	if b.opts.RequestTimeout > 0 && err == nil {
		// (After a failed read it stays: the server may try to read what is left of the body
		// before it answers, and must not wait for it.)
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		return b.bodyFailure(r, err)
	}

	ctx := service.WithRequestInfo(r.Context(), service.RequestInfo{Transport: "http", Headers: r.Header})
	ctx = b.tr.headerContext(ctx, r.Header)
	if b.opts.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.opts.RequestTimeout)
		defer cancel()
	}
	return b.runHTTPMessage(ctx, r.Context(), body, sr)
}

// bodyFailure is the answer to a request whose body could not be read (err), always a 4xx with
// a Defect, never a 200 without a body:
//
//   - over HTTPBodyLimit: 413;
//   - not all there within RequestTimeout: 408;
//   - ended before its announced length (the client closed the connection early): 400;
//   - any other read failure (mostly the client went away): 400.
//
// (An empty body is read fine; it is answered like the reference, 200 with a SyntaxError Defect.)
func (b *Bridge) bodyFailure(r *http.Request, err error) httpResult {
	fail := func(status int, msg, failure string) httpResult {
		return httpResult{status: status, msgs: [][]byte{appendDefectMessage(nil, defect{Message: msg})}, failure: failure}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return fail(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body exceeds the limit of %d bytes (HTTPBodyLimit)", tooBig.Limit),
			"request body over HTTPBodyLimit")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fail(http.StatusRequestTimeout,
			fmt.Sprintf("the request body did not arrive within %s (RequestTimeout)", b.opts.RequestTimeout),
			"request body too slow")
	case errors.Is(err, io.ErrUnexpectedEOF) && r.ContentLength >= 0:
		return fail(http.StatusBadRequest, "request body ended before Content-Length", "request body truncated")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fail(http.StatusBadRequest, "request body ended before its last chunk", "request body truncated")
	}
	return fail(http.StatusBadRequest, "reading the request body failed", "reading the request body failed: "+err.Error())
}

// runHTTPMessage answers one client message received over HTTP. reqCtx is the request's own
// context (without the timeout), to tell a timeout from a client that went away.
func (b *Bridge) runHTTPMessage(ctx, reqCtx context.Context, body []byte, sr syncQuery) httpResult {
	res := httpResult{status: http.StatusOK}
	if !utf8.Valid(body) {
		res.status = http.StatusBadRequest
		res.msgs = [][]byte{appendDefectMessage(nil, defect{Message: "request body is not valid UTF-8"})}
		res.failure = "body is not valid UTF-8"
		return res
	}
	m, d := decodeClientMessage(body)
	if d != nil {
		res.msgs = [][]byte{appendDefectMessage(nil, *d)}
		res.failure = "body is not JSON"
		return res
	}
	res.rpc = m.Tag
	switch m.Tag {
	case tagPing:
		res.msgs = [][]byte{pongMessage}
		return res
	case tagEof, tagAck, tagInterrupt:
		// Nothing to answer: HTTP has no streams to acknowledge or interrupt.
		res.msgs = [][]byte{}
		return res
	case tagRequest:
	default:
		res.msgs = [][]byte{appendDefectMessage(nil, defect{Message: "Unknown request tag: " + m.Tag})}
		res.failure = "unknown message tag " + logQuote(m.Tag)
		return res
	}

	call, reply, reason := decodeRequest(m, sr, httpRPCs)
	res.rpc = m.RPC
	if reply != nil {
		res.msgs = [][]byte{reply}
		res.failure = reason
		return res
	}

	ctx, span := b.tr.startRPC(ctx, m, transportHTTP, true)
	var err error
	defer func() { endRPC(span, res.failure != "", err, res.failure) }()
	var success exit
	switch {
	case call.ping != nil:
		err, success = b.svc.Ping(ctx, call.ping), exitPingSuccess
	case call.push != nil:
		err, success = b.svc.Push(ctx, call.push), exitPushSuccess
	case call.pull != nil:
		call.pull.Live = false // HTTP has no live pulls; the client polls (PROTOCOL §6).
		err = pullPages(ctx, b.svc, call.pull, func(page *service.Page) error {
			if res.reserved >= int64(b.opts.HTTPResponseLimit) {
				return errResponseFull
			}
			f := chunkFrame(call.id, page)
			chunk := f.appendTo(make([]byte, 0, f.size()))
			if !b.opts.OutgoingBudget.Reserve(nil, int64(len(chunk))) {
				if len(res.msgs) == 0 {
					return errOverBudget
				}
				return errResponseFull // the client polls again for the rest
			}
			res.reserved += int64(len(chunk)) // the response's size so far
			res.msgs = append(res.msgs, chunk)
			return nil
		})
		if errors.Is(err, errResponseFull) {
			err = nil
		}
		success = exitStreamSuccess
	}

	var e exit
	switch {
	case err == nil:
		e = success
	case reqCtx.Err() != nil:
		res.failure = "client went away"
		e = exitFail(appendUnknownError(nil, "request cancelled: client went away"))
	case ctx.Err() != nil:
		res.failure = errRequestTimedOut
		e = exitFail(appendUnknownError(nil, errRequestTimedOut))
	default:
		res.failure = err.Error()
		e = failureExit(err)
	}
	res.msgs = append(res.msgs, appendExit(nil, call.id, e))
	return res
}

// writeHTTPMessages writes msgs as the JSON array body of an HTTP transport response: gzipped
// when it is over gzipMinBytes and the client accepts gzip, else plain with a Content-Length.
//
// Writing is bounded by Options.WriteTimeout, so that a client that does not read its response
// frees its place under MaxHTTPRequests in bounded time.
//
// It consumes msgs: each is dropped once copied into the body, so that a response waiting for a
// slow reader holds its bytes once (as Options.OutgoingBudget counts them), not twice.
func (b *Bridge) writeHTTPMessages(w http.ResponseWriter, r *http.Request, status int, msgs [][]byte) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(b.opts.WriteTimeout)) // not every ResponseWriter can (tests)
	size := 2 + len(msgs)
	for _, m := range msgs {
		size += len(m)
	}
	body := appendMessages(make([]byte, 0, size), msgs...)
	clear(msgs)
	h := w.Header()
	b.setCORS(w, r)
	h.Set("Content-Type", "application/json")
	h.Add("Vary", "Accept-Encoding")
	if len(body) > gzipMinBytes && acceptsGzip(r.Header) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		if err := zw.Close(); err == nil {
			body = buf.Bytes()
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip: it lists gzip (or x-gzip,
// or *) without q=0.
func acceptsGzip(h http.Header) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, v := range h.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			switch name {
			case "gzip", "x-gzip":
				gzipQ = q
			case "*":
				starQ = q
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
