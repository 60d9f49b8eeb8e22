package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// Every write NOTIFYs the schema's channel, in its own transaction, so that PostgreSQL delivers
// the notification only once the write commits, and to each listener in commit order. The
// payload tells the change whole, so that watchers need no query:
//
//	<head> <length of backend id in bytes> <backend id><store id>
//
// e.g. "42 6 b1f00dmy-store". A deletion has backend id "" and head 0. PostgreSQL refuses
// payloads of 8000 bytes or more; a change whose payload would be that long (a store id of
// nearly 8000 bytes: the service's default bound is 512) is sent as resyncPayload, and
// watchers call resync for it.
const (
	// maxPayload is the longest payload PostgreSQL takes (it must be shorter than 8000 bytes).
	maxPayload = 7999
	// resyncPayload asks the watchers to resync.
	resyncPayload = "*"
)

// Watch's reconnection backoff: the first wait, and the longest.
const (
	watchMinBackoff = 50 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
)

// A LISTEN connection that receives nothing for watchPingInterval is pinged, and given up (then
// reconnected) when the ping takes longer than watchPingTimeout: a connection lost without a
// word, as in a network partition, would otherwise wait for notifications forever.
const (
	watchPingInterval = 30 * time.Second
	watchPingTimeout  = 10 * time.Second
)

// watchApplicationName is the application_name of Watch's connection, as pg_stat_activity
// shows it.
const watchApplicationName = "livestore-sync watch"

// payload is the notification of a change.
func payload(storeID, backendID string, head uint64) string {
	p := strconv.FormatUint(head, 10) + " " + strconv.Itoa(len(backendID)) + " " + backendID + storeID
	if len(p) > maxPayload {
		return resyncPayload
	}
	return p
}

// parsePayload reads a notification; ok is false for resyncPayload and anything it cannot read.
func parsePayload(p string) (c storage.Change, ok bool) {
	headText, rest, ok1 := strings.Cut(p, " ")
	lenText, rest, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return c, false
	}
	head, err1 := strconv.ParseUint(headText, 10, 64)
	n, err2 := strconv.Atoi(lenText)
	if err1 != nil || err2 != nil || n < 0 || n > len(rest) {
		return c, false
	}
	return storage.Change{StoreID: rest[n:], BackendID: rest[:n], Head: head}, true
}

// Watch implements storage.Shared. It holds a connection of its own (not one of the pool's) that
// LISTENs to the schema's channel, and calls resync once it listens (writes before were not
// reported). When that connection fails it reconnects, waiting watchMinBackoff and up to
// watchMaxBackoff between tries, LISTENs again and then calls resync: changes committed while it
// was away are lost to it. It returns an error at once when the first connection fails.
func (e *Engine) Watch(ctx context.Context, changed func(storage.Change), resync func()) error {
	conn, err := e.listen(ctx)
	if err != nil {
		return err
	}
	defer func() { closeConn(conn) }()
	resync()
	backoff := watchMinBackoff
	for {
		n, err := e.wait(ctx, conn)
		if n != nil {
			if c, ok := parsePayload(n.Payload); ok {
				changed(c)
			} else {
				if n.Payload != resyncPayload {
					e.log.Warn("unreadable notification; resyncing", "payload", n.Payload)
				}
				resync()
			}
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.log.Warn("lost the connection that watches for writes; reconnecting", "err", err)
		closeConn(conn)
		conn = nil
		for conn == nil {
			if e.beforeReconnect != nil {
				e.beforeReconnect(ctx)
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			backoff = min(2*backoff, watchMaxBackoff)
			if conn, err = e.listen(ctx); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				e.log.Warn("cannot watch for writes yet", "err", err, "retry_in", backoff)
			}
		}
		e.reconnects.Add(1)
		e.log.Info("watching for writes again; resyncing")
		backoff = watchMinBackoff
		resync()
	}
}

// wait returns the next notification of conn. When none comes for the ping interval it pings
// conn, and returns the ping's error if it fails.
func (e *Engine) wait(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	interval := e.pingInterval
	if interval == 0 {
		interval = watchPingInterval
	}
	for {
		quiet, cancel := context.WithTimeout(ctx, interval)
		n, err := conn.WaitForNotification(quiet)
		cancel()
		if n != nil || err == nil || ctx.Err() != nil || quiet.Err() == nil {
			return n, err
		}
		// Nothing for the interval (the connection stays usable after the timeout): check it.
		pctx, cancel := context.WithTimeout(ctx, watchPingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if e.onIdlePing != nil {
			e.onIdlePing(err)
		}
		if err != nil {
			return nil, fmt.Errorf("pgstore: ping the connection that watches for writes: %w", err)
		}
	}
}

// listen opens a connection that listens to the schema's channel.
func (e *Engine) listen(ctx context.Context) (*pgx.Conn, error) {
	cfg := e.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = watchApplicationName
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect to watch for writes: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{e.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("pgstore: listen for writes: %w", err)
	}
	if e.onListen != nil {
		e.onListen(conn.PgConn().PID())
	}
	return conn, nil
}

// closeConn closes a connection, bounding the goodbye it sends.
func closeConn(conn *pgx.Conn) {
	if conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
