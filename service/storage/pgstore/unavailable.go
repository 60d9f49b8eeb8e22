package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// retryableCodes are the SQLSTATEs after which the same call may succeed once retried: the
// server is shutting down, starting, out of connections, or the transaction lost a race.
var retryableCodes = map[string]bool{
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now
	"53300": true, // too_many_connections
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
}

// classify returns err wrapped with storage.ErrUnavailable when it says that the database could
// not be reached or answer for now (a connection refused or lost, the operation's timeout, a
// server shutting down or out of connections), so that the service tells clients to retry. A
// write whose connection was lost may have committed; its retry is safe, since the service
// acknowledges identical events again.
func classify(err error) error {
	if err == nil || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}

// unavailable reports whether err is a failure to reach the database rather than an answer.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return retryableCodes[pgErr.Code] || pgErr.Code[:2] == "08" // connection_exception
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}
