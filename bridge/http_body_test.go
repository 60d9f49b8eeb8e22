package bridge

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPBadBodiesOverTCP sends HTTP transport requests by hand on a TCP connection, closes
// its sending side (FIN) after the body, or after the part of it that was sent, and reads the
// answer: a body announced over HTTPBodyLimit is answered 413 at once, without waiting for it;
// a body cut short is answered 400 with a Defect saying so, never 200 without a body;
// an empty body or one that is not JSON is answered like the reference does
// (testdata/http/http-raw-edge-cases.jsonl): 200 with a SyntaxError Defect.
func TestHTTPBadBodiesOverTCP(t *testing.T) {
	t.Parallel()
	ping := httpPing("1")
	tests := []struct {
		name    string
		request string
		// open keeps the sending side open: the answer must come without the rest of the body.
		open   bool
		status int
		body   string
	}{
		{
			name:    "Content-Length 40 MiB, over the limit, nothing sent",
			request: "Content-Length: 41943040\r\n\r\n",
			open:    true,
			status:  http.StatusRequestEntityTooLarge,
			body:    `[{"_tag":"Defect","defect":"request body exceeds the limit of 4194304 bytes (HTTPBodyLimit)"}]`,
		},
		{
			name:    "Content-Length 300, 100 bytes sent",
			request: "Content-Length: 300\r\n\r\n" + strings.Repeat(" ", 100-len(ping)) + ping,
			status:  http.StatusBadRequest,
			body:    `[{"_tag":"Defect","defect":"request body ended before Content-Length"}]`,
		},
		{
			name:    "chunked, cut in a chunk",
			request: "Transfer-Encoding: chunked\r\n\r\n64\r\n" + ping[:50],
			status:  http.StatusBadRequest,
			body:    `[{"_tag":"Defect","defect":"request body ended before its last chunk"}]`,
		},
		{
			name:    "empty, Content-Length 0",
			request: "Content-Length: 0\r\n\r\n",
			status:  http.StatusOK,
			body:    `[{"_tag":"Defect","defect":{"name":"SyntaxError","message":"Unexpected end of JSON input"}}]`,
		},
		{
			name:    "empty, no length",
			request: "\r\n",
			status:  http.StatusOK,
			body:    `[{"_tag":"Defect","defect":{"name":"SyntaxError","message":"Unexpected end of JSON input"}}]`,
		},
		{
			name:    "not JSON",
			request: "Content-Length: 4\r\n\r\nnope",
			status:  http.StatusOK,
			body:    `[{"_tag":"Defect","defect":{"name":"SyntaxError","message":"Unexpected token 'o', \"nope\" is not valid JSON"}}]`,
		},
		{
			name:    "whole",
			request: "Content-Length: " + itoa(len(ping)) + "\r\n\r\n" + ping,
			status:  http.StatusOK,
			body:    `[{"_tag":"Exit","requestId":"1","exit":{"_tag":"Success","value":{"_tag":"SyncMessage.Pong"}}}]`,
		},
	}
	ts := newTestServer(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ts.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			req := "POST " + httpStore + " HTTP/1.1\r\nHost: sync.test\r\nContent-Type: application/json\r\n" + tt.request
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			if !tt.open {
				if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status || string(body) != tt.body {
				t.Errorf("answer %d %s, want %d %s", res.StatusCode, body, tt.status, tt.body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
		})
	}
}
