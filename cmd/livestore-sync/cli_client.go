package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"google.golang.org/protobuf/proto"
)

// defaultServer is where the client commands look for the server: where serve listens by
// default.
const defaultServer = "http://" + defaultAddr

// clientFlags are the flags every client command takes.
type clientFlags struct {
	server      string
	adminSecret string
}

// addClientFlags defines --server and --admin-secret on fs.
func addClientFlags(fs *flag.FlagSet) *clientFlags {
	f := new(clientFlags)
	fs.StringVar(&f.server, "server", envOr("LIVESTORE_SYNC_SERVER", defaultServer),
		"`URL` of the livestore-sync server (env LIVESTORE_SYNC_SERVER)")
	// The default is not shown in --help: the environment variable is read in dial.
	fs.StringVar(&f.adminSecret, "admin-secret", "",
		"the server's admin `secret`, sent as 'Authorization: Bearer <secret>' on admin calls.\n"+
			"Prefer the environment variable, which other users cannot see in the process list (env LIVESTORE_SYNC_ADMIN_SECRET)")
	return f
}

// client talks to one livestore-sync server with the Connect protocol, over HTTP/1.1 (or
// HTTP/2 for https URLs), and turns its errors into sentences with exit codes.
type client struct {
	// url is the server's base URL, as the messages name it.
	url string
	// hasSecret tells whether an admin secret was given.
	hasSecret bool
	// sync is the SyncService client.
	sync syncv1connect.SyncServiceClient
	// admin is the AdminService client; it sends the admin secret with every call.
	admin syncv1connect.AdminServiceClient
}

// dial returns a client for the server the flags name. It does not connect yet; a malformed
// URL is a usage error.
func (f *clientFlags) dial() (*client, error) {
	base, err := serverURL(f.server)
	if err != nil {
		return nil, usageError{err}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	tr.Protocols.SetHTTP2(true) // for https, negotiated with ALPN
	httpClient := &http.Client{Transport: tr}
	secret := f.adminSecret
	if secret == "" {
		secret = os.Getenv("LIVESTORE_SYNC_ADMIN_SECRET")
	}
	auth := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if secret != "" {
				req.Header().Set("Authorization", "Bearer "+secret)
			}
			return next(ctx, req)
		}
	})
	return &client{
		url:       base,
		hasSecret: secret != "",
		sync:      syncv1connect.NewSyncServiceClient(httpClient, base),
		admin:     syncv1connect.NewAdminServiceClient(httpClient, base, connect.WithInterceptors(auth)),
	}, nil
}

// serverURL checks a --server value and returns it without a trailing slash. A value without a
// scheme, such as "localhost:8787", means http.
func serverURL(s string) (string, error) {
	if s == "" {
		return "", errors.New("--server is empty")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("--server %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("--server %q: the scheme must be http or https", s)
	}
	if u.Host == "" {
		return "", fmt.Errorf("--server %q has no host", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// getStore describes a store with the AdminService.
func (c *client) getStore(ctx context.Context, store string) (*syncv1.StoreSummary, error) {
	resp, err := c.admin.GetStore(ctx, connect.NewRequest(&syncv1.GetStoreRequest{StoreId: store}))
	if err != nil {
		return nil, c.explain(err, store, true)
	}
	return resp.Msg.GetStore(), nil
}

// checkExists fails with exit code 3 when an admin secret was given and the store does not
// exist. Without a secret it cannot tell, and it lets the command go on; it also goes on when
// the admin call fails otherwise, since the command itself does not need the admin API.
func (c *client) checkExists(ctx context.Context, store string) error {
	if !c.hasSecret {
		return nil
	}
	_, err := c.getStore(ctx, store)
	var exit exitError
	if errors.As(err, &exit) && exit.code == exitNotFound {
		return err
	}
	return nil
}

// explain turns the error of a call to the server into a plain sentence with an exit code.
// store names the store the call was about ("" for none); admin tells whether the call was to
// the AdminService. Errors of the command's own context (an interrupted command) are returned
// unchanged.
func (c *client) explain(err error, store string, admin bool) error {
	if err == nil {
		return nil
	}
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return err
	}
	msg := cerr.Message()
	fail := func(code int, format string, args ...any) error {
		return exitError{code: code, err: fmt.Errorf(format, args...)}
	}
	switch cerr.Code() {
	case connect.CodeUnavailable:
		if nerr := net.Error(nil); errors.As(err, &nerr) { // dial, DNS or connection failure
			return fail(exitFailure, "cannot reach livestore-sync at %s: %v", c.url, nerr)
		}
		return fail(exitFailure, "livestore-sync at %s is unavailable: %s", c.url, msg)
	case connect.CodeUnauthenticated:
		if !c.hasSecret {
			return fail(exitRefused, "this command needs the server's admin secret: pass --admin-secret or set LIVESTORE_SYNC_ADMIN_SECRET")
		}
		return fail(exitRefused, "livestore-sync at %s rejected the admin secret: check --admin-secret or LIVESTORE_SYNC_ADMIN_SECRET", c.url)
	case connect.CodePermissionDenied:
		return fail(exitRefused, "livestore-sync at %s refused the request: %s", c.url, msg)
	case connect.CodeUnimplemented:
		if admin {
			return fail(exitRefused, "the server at %s refuses admin calls: %s (is its admin API on? start it with --admin-secret or LIVESTORE_SYNC_ADMIN_SECRET)", c.url, msg)
		}
		return fail(exitFailure, "the server at %s does not serve the livestore-sync API: %s (is --server right?)", c.url, msg)
	case connect.CodeNotFound:
		if store != "" {
			return fail(exitNotFound, "store %q does not exist", store)
		}
		return fail(exitNotFound, "not found: %s", msg)
	case connect.CodeAborted:
		if ahead, ok := errorDetail[*syncv1.ServerAheadError](err); ok {
			return fail(exitFailure, "store %q has events up to seqNum %d, but the pushed events continue from seqNum %d",
				store, ahead.GetMinimumExpectedNum(), ahead.GetProvidedNum())
		}
	case connect.CodeFailedPrecondition:
		if mismatch, ok := errorDetail[*syncv1.BackendIdMismatchError](err); ok {
			return fail(exitFailure, "store %q was reset or replaced: its backend id is now %q, not %q",
				store, mismatch.GetExpected(), mismatch.GetReceived())
		}
	case connect.CodeInvalidArgument:
		if bad, ok := errorDetail[*syncv1.InvalidBatchError](err); ok {
			return fail(exitFailure, "the server rejected the event with seqNum %d: %s", bad.GetSeqNum(), bad.GetReason())
		}
		return fail(exitFailure, "the server rejected the request: %s", msg)
	case connect.CodeCanceled, connect.CodeDeadlineExceeded:
		return err
	}
	return fail(exitFailure, "livestore-sync at %s: %v", c.url, err)
}

// errorDetail returns the first detail of type M of a Connect error.
func errorDetail[M proto.Message](err error) (M, bool) {
	var zero M
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return zero, false
	}
	for _, d := range cerr.Details() {
		if v, derr := d.Value(); derr == nil {
			if m, ok := v.(M); ok {
				return m, true
			}
		}
	}
	return zero, false
}

// parseStoreCmd parses the args of a command whose one argument is STORE, and returns a client
// for the server the flags name, and the store.
func parseStoreCmd(fs *flag.FlagSet, cf *clientFlags, args []string) (*client, string, error) {
	pos, err := parseArgs(fs, args, "STORE")
	if err != nil {
		return nil, "", err
	}
	if pos[0] == "" {
		return nil, "", usageError{errors.New("STORE is empty")}
	}
	c, err := cf.dial()
	return c, pos[0], err
}
