package bridge

import (
	"errors"

	"github.com/coder/websocket"

	"github.com/livestore-sync/livestore-sync/service"
)

// closeRequest asks for a socket to be closed with a status code and reason.
type closeRequest struct {
	code   websocket.StatusCode
	reason string
}

// Close codes and reasons the bridge sends. Any close makes the LiveStore client fail its pending
// requests and reconnect by itself (PROTOCOL §8).
var (
	closeLivePullBehind = closeRequest{websocket.StatusTryAgainLater, "live pull fell behind; reconnect and pull again"}
	closeSlowConsumer   = closeRequest{websocket.StatusTryAgainLater, "client too slow: outgoing queue full"}
	closeOverBudget     = closeRequest{websocket.StatusTryAgainLater, "client too slow: server's outgoing memory budget exhausted"}
	closeServiceClosed  = closeRequest{websocket.StatusServiceRestart, "sync service is shutting down"}
	closeShutdown       = closeRequest{websocket.StatusServiceRestart, "server is shutting down"}
	closeIdle           = closeRequest{websocket.StatusPolicyViolation, "idle timeout: no frame received"}
	closeInvalidUTF8    = closeRequest{websocket.StatusInvalidFramePayloadData, "frame is not valid UTF-8"}
)

// exitOrCloseFor maps an error of the service to the Exit that ends a WebSocket request, or to a
// close of the whole socket:
//
//   - service.ErrLivePullBehind: close 1013, so the client reconnects and pulls from where it is;
//   - service.ErrClosed: close 1012 (service restart);
//   - anything else: the Exit of failureExit.
func exitOrCloseFor(err error) (exit, *closeRequest) {
	switch {
	case errors.Is(err, service.ErrLivePullBehind):
		return nil, &closeLivePullBehind
	case errors.Is(err, service.ErrClosed):
		return nil, &closeServiceClosed
	}
	return failureExit(err), nil
}

// failureExit maps an error of the service to the failed Exit that ends its request, for every
// transport:
//
//   - *service.ServerAheadError, *service.BackendIDMismatchError: their typed LiveStore errors;
//   - anything else (InvalidBatchError, InvalidRequestError, StorageError, ErrClosed, …): an
//     UnknownError with the error's message, which every LiveStore RPC declares.
func failureExit(err error) exit {
	var ahead *service.ServerAheadError
	var mismatch *service.BackendIDMismatchError
	switch {
	case errors.As(err, &ahead):
		return exitFail(appendServerAheadError(nil, ahead.MinimumExpectedNum, ahead.ProvidedNum))
	case errors.As(err, &mismatch):
		return exitFail(appendBackendIDMismatchError(nil, mismatch.Expected, mismatch.Received))
	}
	return exitFail(appendUnknownError(nil, err.Error()))
}
