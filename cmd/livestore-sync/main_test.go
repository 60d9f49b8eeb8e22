package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// binary is the livestore-sync binary built for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "livestore-sync-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "livestore-sync")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	nullServerExecutable = func() (string, error) { return binary, nil }
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// No goroutine may outlive the tests: the in-process servers, clients and child
		// processes' pipes must all have ended (goleak retries for a bounded time). The HTTP
		// transports' idle keep-alive connections, to servers the tests have stopped, are their
		// pools, not leaks: closed first.
		closeIdleConnections()
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines outlived the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// serverProcess is a running livestore-sync serve process.
type serverProcess struct {
	cmd     *exec.Cmd
	url     string
	dataDir string
	stderr  *syncBuffer
	stdout  *syncBuffer
	exited  chan error
}

var listenLine = regexp.MustCompile(`msg="livestore-sync listening" addr=(\S+)`)

// syncBuffer is a strings.Builder safe for one writer and concurrent readers; each write wakes
// the readers waiting in await.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
	// written is closed by the next write, then replaced by the next reader that waits; nil
	// while none waits.
	written chan struct{}
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
	if b.written != nil {
		close(b.written)
		b.written = nil
	}
}

// Write makes a syncBuffer an io.Writer.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.WriteString(string(p))
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// await waits until cond holds for what has been written, checking it again after each write.
// It gives up after bound, a bound against hanging only (the caller fails the test then), and
// returns what cond last saw and whether it held.
func (b *syncBuffer) await(bound time.Duration, cond func(written string) bool) (string, bool) {
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	for {
		b.mu.Lock()
		s := b.b.String()
		if b.written == nil {
			b.written = make(chan struct{})
		}
		written := b.written
		b.mu.Unlock()
		if cond(s) {
			return s, true
		}
		select {
		case <-written:
		case <-timeout.C:
			return s, false
		}
	}
}

// startServer runs `livestore-sync serve` on a random loopback port with dataDir, and waits
// until it listens. The process is killed when the test ends, if still running.
func startServer(t *testing.T, dataDir string, extraArgs ...string) *serverProcess {
	t.Helper()
	return startServerEnv(t, dataDir, nil, extraArgs...)
}

// startServerEnv is startServer with env added to the process's environment; the server's
// standard output is kept in stdout.
func startServerEnv(t *testing.T, dataDir string, env []string, extraArgs ...string) *serverProcess {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, extraArgs...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &serverProcess{cmd: cmd, dataDir: dataDir, stderr: new(syncBuffer), stdout: new(syncBuffer), exited: make(chan error, 1)}
	cmd.Stdout = s.stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.stderr.WriteString(line + "\n")
			if m := listenLine.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		s.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case a := <-addr:
		s.url = "http://" + a
	case err := <-s.exited:
		t.Fatalf("server exited before listening: %v\n%s", err, s.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start listening\n%s", s.stderr)
	}
	return s
}

// stop sends sig and returns the process's exit error.
func (s *serverProcess) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	s.cmd.Process.Signal(sig)
	select {
	case err := <-s.exited:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not exit after %v\n%s", sig, s.stderr)
		return nil
	}
}

// h2cClient speaks HTTP/2 without TLS (prior knowledge), as gRPC clients do.
func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tracked(tr)}
}

// transports are the HTTP transports the tests made (tracked), and http.DefaultTransport.
var transports = struct {
	sync.Mutex
	all []*http.Transport
}{all: []*http.Transport{http.DefaultTransport.(*http.Transport)}}

// tracked returns tr, recorded so that closeIdleConnections closes its idle connections.
func tracked(tr *http.Transport) *http.Transport {
	transports.Lock()
	defer transports.Unlock()
	transports.all = append(transports.all, tr)
	return tr
}

// closeIdleConnections closes the idle connections of every transport the tests made.
func closeIdleConnections() {
	transports.Lock()
	defer transports.Unlock()
	for _, tr := range transports.all {
		tr.CloseIdleConnections()
	}
}

func newEvents(from uint64, n int) []*syncv1.Event {
	out := make([]*syncv1.Event, n)
	for i := range out {
		seq := from + uint64(i) + 1
		out[i] = &syncv1.Event{Name: "todoCreated-v1", Args: fmt.Sprintf(`{"id":"t%d","text":"ü 🎉"}`, seq),
			SeqNum: seq, ParentSeqNum: seq - 1, ClientId: "c", SessionId: "s"}
	}
	return out
}

// eventCount is the number of events in pages.
func eventCount(pages []*syncv1.PullResponse) int {
	n := 0
	for _, p := range pages {
		n += len(p.GetBatch())
	}
	return n
}

// pullAll reads a whole non-live pull.
func pullAll(ctx context.Context, client syncv1connect.SyncServiceClient, req *syncv1.PullRequest) ([]*syncv1.PullResponse, error) {
	stream, err := client.Pull(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	var pages []*syncv1.PullResponse
	for stream.Receive() {
		pages = append(pages, stream.Msg())
	}
	return pages, stream.Err()
}

func TestServeOverEveryProtocol(t *testing.T) {
	srv := startServer(t, t.TempDir())
	protocols := []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, p.opts...)
			store := "store-" + p.name

			if _, err := client.Ping(ctx, connect.NewRequest(&syncv1.PingRequest{StoreId: store})); err != nil {
				t.Fatalf("ping: %v", err)
			}
			// A live pull, opened first, must receive the pushes below.
			live, err := client.Pull(ctx, connect.NewRequest(&syncv1.PullRequest{StoreId: store, Live: true}))
			if err != nil {
				t.Fatalf("live pull: %v", err)
			}
			defer live.Close()
			if !live.Receive() || len(live.Msg().GetBatch()) != 0 || live.Msg().GetPageInfo().GetNoMore() == nil {
				t.Fatalf("live pull's first page: %v %v", live.Msg(), live.Err())
			}
			backendID := live.Msg().GetBackendId()

			if _, err := client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: store, Batch: newEvents(0, 3)})); err != nil {
				t.Fatalf("push: %v", err)
			}
			if !live.Receive() || len(live.Msg().GetBatch()) != 3 || live.Msg().GetBatch()[2].GetEvent().GetArgs() != `{"id":"t3","text":"ü 🎉"}` {
				t.Fatalf("live page: %v %v", live.Msg(), live.Err())
			}

			// Server ahead, with its typed detail.
			conflicting := newEvents(1, 1)
			conflicting[0].ClientId = "another-client"
			_, err = client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: store, Batch: conflicting}))
			assertDetail(t, err, connect.CodeAborted, &syncv1.ServerAheadError{MinimumExpectedNum: 3, ProvidedNum: 1})
			// Backend id mismatch, on push and on pull.
			_, err = client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: store, Batch: newEvents(3, 1), BackendId: proto.String("stale")}))
			assertDetail(t, err, connect.CodeFailedPrecondition, &syncv1.BackendIdMismatchError{Expected: backendID, Received: "stale"})
			_, err = pullAll(ctx, client, &syncv1.PullRequest{StoreId: store, Cursor: &syncv1.Cursor{BackendId: "stale"}})
			assertDetail(t, err, connect.CodeFailedPrecondition, &syncv1.BackendIdMismatchError{Expected: backendID, Received: "stale"})
			// An invalid batch names the event.
			bad := newEvents(3, 2)
			bad[1].Args = "{not json"
			_, err = client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: store, Batch: bad}))
			assertDetail(t, err, connect.CodeInvalidArgument, &syncv1.InvalidBatchError{EventIndex: 1, SeqNum: 5, Reason: "args is not valid JSON"})

			pages, err := pullAll(ctx, client, &syncv1.PullRequest{StoreId: store, Cursor: &syncv1.Cursor{BackendId: backendID, EventSequenceNumber: 1}})
			if err != nil || len(pages) != 1 || len(pages[0].GetBatch()) != 2 || pages[0].GetBatch()[0].GetEvent().GetSeqNum() != 2 {
				t.Fatalf("pull from cursor: %v %v", pages, err)
			}
		})
	}
}

// assertDetail checks that err is a Connect error with code and exactly one detail equal to want.
func assertDetail[M interface {
	comparable
	String() string
}](t *testing.T, err error, code connect.Code, want M) {
	t.Helper()
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != code {
		t.Fatalf("err = %v, want code %v", err, code)
	}
	if len(cerr.Details()) != 1 {
		t.Fatalf("err has %d details, want 1", len(cerr.Details()))
	}
	got, derr := cerr.Details()[0].Value()
	if derr != nil {
		t.Fatalf("detail: %v", derr)
	}
	if g, ok := got.(M); !ok || g.String() != want.String() {
		t.Fatalf("detail = %v, want %v", got, want)
	}
}

func TestReflection(t *testing.T) {
	srv := startServer(t, t.TempDir())
	client := grpcreflect.NewClient(h2cClient(), srv.url)
	stream := client.NewStream(context.Background())
	defer stream.Close()
	names, err := stream.ListServices()
	if err != nil {
		t.Fatalf("list services: %v", err)
	}
	var got []string
	for _, n := range names {
		got = append(got, string(n))
	}
	want := syncv1connect.SyncServiceName
	if !strings.Contains(strings.Join(got, ","), want) {
		t.Fatalf("services %v lack %s", got, want)
	}
	if _, err := stream.FileContainingSymbol("livestore.sync.v1.SyncService"); err != nil {
		t.Fatalf("file containing SyncService: %v", err)
	}
}

// An acknowledged push survives SIGKILL right after the acknowledgement.
func TestKilledServerLosesNothingAcknowledged(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir)
	client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if _, err := client.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: "durable", Batch: newEvents(uint64(i*5), 5)})); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	srv.stop(t, syscall.SIGKILL)

	srv = startServer(t, dataDir)
	client = syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
	pages, err := pullAll(ctx, client, &syncv1.PullRequest{StoreId: "durable"})
	if err != nil {
		t.Fatal(err)
	}
	if n := eventCount(pages); n != 100 {
		t.Fatalf("after SIGKILL the store has %d events, want 100", n)
	}
}

func TestSIGTERMShutsDownCleanly(t *testing.T) {
	srv := startServer(t, t.TempDir())
	client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url)
	live, err := client.Pull(context.Background(), connect.NewRequest(&syncv1.PullRequest{StoreId: "term", Live: true}))
	if err != nil {
		t.Fatal(err)
	}
	if !live.Receive() {
		t.Fatalf("live pull: %v", live.Err())
	}
	if err := srv.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, srv.stderr)
	}
	if !strings.Contains(srv.stderr.String(), "stopped cleanly") {
		t.Fatalf("no clean stop in the log:\n%s", srv.stderr)
	}
	// The live stream was ended by the shutdown, not left hanging.
	for live.Receive() {
	}
	if code := connect.CodeOf(live.Err()); code != connect.CodeUnavailable {
		t.Fatalf("live pull ended with %v, want Unavailable", live.Err())
	}
}

func TestDataDirInUse(t *testing.T) {
	dataDir := t.TempDir()
	startServer(t, dataDir)
	out, err := exec.Command(binary, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second server: err %v, want exit code 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "in use by another process") {
		t.Fatalf("second server's message does not say the directory is in use:\n%s", out)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{nil, 2, "Usage:"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"help"}, 0, "livestore-sync serve"},
		{[]string{"serve", "--help"}, 0, "LIVESTORE_SYNC_DATA_DIR"},
		{[]string{"serve", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"serve", "extra"}, 2, "unexpected arguments"},
		{[]string{"serve", "--transports", "ws,carrier-pigeon"}, 2, `unknown transport "carrier-pigeon"`},
		{[]string{"serve", "--auth-jwt-issuer", "https://id.example"}, 2, "need --auth-jwt-secret or --auth-jwks"},
		{[]string{"serve", "--help"}, 0, "LIVESTORE_SYNC_AUTH_JWKS"},
		{[]string{"serve", "--help"}, 0, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{[]string{"serve", "--max-websockets", "-1"}, 2, "--max-websockets must be a whole number"},
		{[]string{"serve", "--tls-cert", "cert.pem"}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"serve", "--max-http-requests", "many"}, 2, "--max-http-requests must be a whole number"},
		{[]string{"serve", "--pebble-cache-bytes", "0"}, 2, "--pebble-cache-bytes must be a positive whole number"},
		{[]string{"serve", "--help"}, 0, "LIVESTORE_SYNC_PEBBLE_CACHE_BYTES"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out strings.Builder
			if code := run(tt.args, &out, &out); code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\n%s", code, tt.wantCode, out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("output lacks %q:\n%s", tt.wantOut, out.String())
			}
		})
	}
}

func TestAdminAPIAuth(t *testing.T) {
	ctx := context.Background()
	off := startServer(t, t.TempDir())
	_, err := syncv1connect.NewAdminServiceClient(h2cClient(), off.url).GetStore(ctx, connect.NewRequest(&syncv1.GetStoreRequest{StoreId: "x"}))
	if connect.CodeOf(err) != connect.CodeUnimplemented || !strings.Contains(err.Error(), "--admin-secret") {
		t.Fatalf("admin call without a configured secret: %v, want Unimplemented naming --admin-secret", err)
	}

	srv := startServer(t, t.TempDir(), "--admin-secret", "s3cret")
	sync := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url)
	if _, err := sync.Push(ctx, connect.NewRequest(&syncv1.PushRequest{StoreId: "adm", Batch: newEvents(0, 2)})); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, header string
		wantCode     connect.Code
	}{
		{"no secret", "", connect.CodeUnauthenticated},
		{"wrong secret", "Bearer nope", connect.CodeUnauthenticated},
		{"not bearer", "s3cret", connect.CodeUnauthenticated},
		{"right secret", "Bearer s3cret", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			admin := syncv1connect.NewAdminServiceClient(h2cClient(), srv.url, connect.WithGRPC())
			req := connect.NewRequest(&syncv1.GetStoreRequest{StoreId: "adm"})
			if tt.header != "" {
				req.Header().Set("Authorization", tt.header)
			}
			resp, err := admin.GetStore(ctx, req)
			if connect.CodeOf(err) != tt.wantCode && !(tt.wantCode == 0 && err == nil) {
				t.Fatalf("err = %v, want code %v", err, tt.wantCode)
			}
			if err == nil && (resp.Msg.GetStore().GetHead() != 2 || resp.Msg.GetStore().GetEventCount() != 2) {
				t.Fatalf("store = %v", resp.Msg.GetStore())
			}
		})
	}
}

func TestMetricsAndHealthEndpoints(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--drain-delay", "2s")
	client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
	if _, err := client.Push(context.Background(), connect.NewRequest(&syncv1.PushRequest{StoreId: "metrics", Batch: newEvents(0, 4)})); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.url + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		`livestore_sync_pushes_total{outcome="ok"} 1`,
		`livestore_sync_pushed_events_total{outcome="ok"} 4`,
		`livestore_sync_stores_open 1`,
		`livestore_sync_push_duration_seconds_count 1`,
		`livestore_sync_pebble_disk_usage_bytes`,
		`go_goroutines`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics (%d) lacks %q:\n%s", code, want, body)
		}
	}
	// While draining, the server is not ready but still answers: it says so in its log once
	// /readyz fails, then serves for the drain delay.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if log, ok := srv.stderr.await(30*time.Second, func(log string) bool {
		return strings.Contains(log, "draining: not ready; still serving")
	}); !ok {
		t.Fatalf("no drain in the log after SIGTERM:\n%s", log)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining: %d %q, want 503", code, body)
	}
	if err := <-srv.exited; err != nil {
		t.Fatalf("exit after drain: %v", err)
	}
}

func TestAuthTokens(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--auth-token", "t1", "--auth-token", "t2,t3")
	client := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url, connect.WithGRPC())
	ctx := context.Background()
	token := func(s string) *structpb.Value {
		v, _ := structpb.NewValue(map[string]any{"authToken": s})
		return v
	}
	for _, tt := range []struct {
		name     string
		payload  *structpb.Value
		bearer   string
		wantCode connect.Code
	}{
		{"no token", nil, "", connect.CodeUnauthenticated},
		{"wrong token", token("nope"), "", connect.CodeUnauthenticated},
		{"payload token", token("t3"), "", 0},
		{"bearer token", nil, "t1", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := connect.NewRequest(&syncv1.PingRequest{StoreId: "auth", Payload: tt.payload})
			if tt.bearer != "" {
				req.Header().Set("Authorization", "Bearer "+tt.bearer)
			}
			_, err := client.Ping(ctx, req)
			if connect.CodeOf(err) != tt.wantCode && !(tt.wantCode == 0 && err == nil) {
				t.Fatalf("err = %v, want code %v", err, tt.wantCode)
			}
		})
	}
	// LiveStore's HTTP transport: the payload in the URL, refused with 400 and the reason.
	ping := `{"_tag":"Request","id":"1","tag":"SyncHttpRpc.Ping","payload":{"storeId":"auth"},"headers":[]}`
	for query, want := range map[string]int{
		"": http.StatusBadRequest,
		"&payload=%257B%2522authToken%2522%253A%2522t2%2522%257D": http.StatusOK,
	} {
		resp, err := http.Post(srv.url+"/?storeId=auth&transport=http"+query, "application/json", strings.NewReader(ping))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("query %q: %d %s, want %d", query, resp.StatusCode, body, want)
		}
		if want == http.StatusBadRequest && !strings.Contains(string(body), "missing or invalid auth token") {
			t.Fatalf("refusal says %q", body)
		}
	}
	if strings.Contains(srv.stderr.String(), "t2") {
		t.Fatalf("a token reached the log:\n%s", srv.stderr)
	}
}

func TestTransportsAndCORSOrigins(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--transports", "ws", "--cors-origins", "https://app.example.com")
	_, err := syncv1connect.NewSyncServiceClient(h2cClient(), srv.url).Ping(context.Background(),
		connect.NewRequest(&syncv1.PingRequest{StoreId: "x"}))
	if connect.CodeOf(err) != connect.CodeUnimplemented || !strings.Contains(err.Error(), "--transports") {
		t.Fatalf("Connect call with grpc off: %v", err)
	}
	resp, err := http.Post(srv.url+"/?storeId=x&transport=http", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "http transport is disabled") {
		t.Fatalf("HTTP transport off: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodOptions, srv.url+"/?storeId=x&transport=ws", nil)
	req.Header.Set("Origin", "https://app.example.com")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Fatalf("preflight from an allowed origin: Allow-Origin %q", got)
	}
}
