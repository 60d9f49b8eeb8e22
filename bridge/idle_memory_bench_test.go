package bridge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// idleSockets and idleStores shape BenchmarkIdleSockets: that many sockets, each holding one
// live pull, spread over that many stores.
const (
	idleSockets = 2000
	idleStores  = 20
)

// BenchmarkIdleSockets measures the server's memory per open WebSocket holding one live pull
// that is idle (it has received a live page and waits for the next). The clients run in a child
// process (TestIdleSocketsClient), so that only the server's memory is measured: the Go heap and
// stacks in use (heap+stack-B/socket) and the process's resident memory (rss-B/socket), after
// minus before opening the sockets.
func BenchmarkIdleSockets(b *testing.B) {
	for b.Loop() {
		measureIdleSockets(b)
	}
}

func measureIdleSockets(b *testing.B) {
	_, br := newRealBridge(b)
	srv := httptest.NewServer(br)
	defer srv.Close()
	before, rssBefore := inUse(), rss(b)

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleSocketsClient$")
	cmd.Env = append(os.Environ(), "LIVESTORE_IDLE_CLIENT=ws"+strings.TrimPrefix(srv.URL, "http")+"/?transport=ws&storeId=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Error("client:", err)
		}
	}()
	lines := bufio.NewScanner(stdout)
	await := func(want string) {
		for lines.Scan() {
			if lines.Text() == want {
				return
			}
			b.Log("client: ", lines.Text())
		}
		b.Fatalf("client ended before %q: %v", want, lines.Err())
	}

	await("pulled") // every socket got its backlog and Acked it
	pusher := dialBench(b, wsURLOf(srv, "idle-0"))
	for i := range idleStores {
		p := dialBench(b, wsURLOf(srv, fmt.Sprintf("idle-%d", i)))
		p.write(b, pushFrame("0", "", eventJSON(1, `{}`)))
		p.awaitExit(b, "0")
		p.ws.CloseNow()
	}
	pusher.ws.CloseNow()
	await("ready") // every socket got the live page

	after, rssAfter := inUse(), rss(b)
	if f := os.Getenv("LIVESTORE_IDLE_HEAPPROFILE"); f != "" {
		out, _ := os.Create(f)
		pprof.Lookup("heap").WriteTo(out, 0)
		g, _ := os.Create(f + ".goroutines")
		pprof.Lookup("goroutine").WriteTo(g, 1)
		g.Close()
		out.Close()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		b.Logf("heap in use %d, stacks %d, goroutines %d", m.HeapInuse, m.StackInuse, runtime.NumGoroutine())
	}
	b.ReportMetric(float64(after-before)/idleSockets, "heap+stack-B/socket")
	b.ReportMetric(float64(rssAfter-rssBefore)/idleSockets, "rss-B/socket")
}

// inUse returns the bytes of Go heap and stacks in use, after collections (each halves
// the stacks that grew for a burst of work and use less than a quarter of their size now).
func inUse() int64 {
	for range 4 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// rss returns the process's resident memory.
func rss(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skip("no /proc/self/statm:", err)
	}
	f := strings.Fields(string(data))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// TestIdleSocketsClient is the client process of BenchmarkIdleSockets (it does nothing in a
// normal test run): it opens idleSockets sockets to the URL in LIVESTORE_IDLE_CLIENT (storeId
// appended), each with a live pull, prints "pulled" once each got its backlog and Acked it,
// "ready" once each then got one live page, and holds them until its stdin closes.
func TestIdleSocketsClient(t *testing.T) {
	url := os.Getenv("LIVESTORE_IDLE_CLIENT")
	if url == "" {
		t.Skip("the client process of BenchmarkIdleSockets")
	}
	socks := make([]*websocket.Conn, idleSockets)
	var wg sync.WaitGroup
	for i := range socks {
		ws, _, err := websocket.Dial(context.Background(), fmt.Sprintf("%sidle-%d", url, i%idleStores), nil)
		if err != nil {
			t.Fatal(err)
		}
		socks[i] = ws
		wg.Go(func() {
			ctx := context.Background()
			if err := ws.Write(ctx, websocket.MessageText, []byte(pullFrame("1", true, ""))); err != nil {
				t.Error(err)
				return
			}
			if _, data, err := ws.Read(ctx); err != nil || !bytes.Contains(data, []byte(`"NoMore"`)) {
				t.Errorf("first Chunk: %s, %v", data, err)
				return
			}
			if err := ws.Write(ctx, websocket.MessageText, []byte(ackFrame("1"))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	fmt.Println("pulled")
	for _, ws := range socks {
		wg.Go(func() {
			if _, data, err := ws.Read(context.Background()); err != nil || !bytes.Contains(data, []byte(`"seqNum":1`)) {
				t.Errorf("live Chunk: %s, %v", data, err)
			}
		})
	}
	wg.Wait()
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the benchmark closes stdin
	for _, ws := range socks {
		ws.CloseNow()
	}
}
