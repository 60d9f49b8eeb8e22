package bridge

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"
)

// recordingConn is a net.Conn that records its writes and write deadlines.
type recordingConn struct {
	net.Conn  // nil: only the methods below are used
	writes    [][]byte
	deadlines []time.Time
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *recordingConn) SetWriteDeadline(t time.Time) error {
	c.deadlines = append(c.deadlines, t)
	return nil
}

// TestGatherWriter: behind a buffer of socketWriteBuffer bytes, as the WebSocket library writes
// through it, frames larger than the buffer take several writes of the connection; gathered,
// any number of frames take one, under a write deadline that the next write outside of
// gathering clears first. Outside of gathering, writes go straight through, and a second send
// moves the deadline without clearing it in between.
func TestGatherWriter(t *testing.T) {
	t.Parallel()
	frame := func(bw *bufio.Writer, n int) {
		bw.Write([]byte{0x81, 0x7e}) // a frame header, as the library writes it
		bw.Write(bytes.Repeat([]byte{'x'}, n))
		bw.Flush()
	}
	for _, tc := range []struct {
		name          string
		gather        bool
		sizes         []int
		wantWrites    int
		wantDeadlines int
	}{
		{"large frame, not gathered", false, []int{2000}, 2, 0},
		{"large frame, gathered", true, []int{2000}, 1, 1},
		{"three frames, gathered", true, []int{10, 3000, 20}, 1, 1},
		{"small frame, not gathered", false, []int{10}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn := &recordingConn{}
			gw := &gatherWriter{conn: conn}
			bw := bufio.NewWriterSize(gw, socketWriteBuffer)
			if tc.gather {
				gw.gather()
			}
			want := 0
			for _, n := range tc.sizes {
				frame(bw, n)
				want += 2 + n
			}
			if tc.gather {
				if got := gw.gathered(); got != want {
					t.Fatalf("gathered %d bytes, want %d", got, want)
				}
				if len(conn.writes) != 0 {
					t.Fatalf("%d writes while gathering", len(conn.writes))
				}
				if err := gw.send(time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if len(conn.writes) != tc.wantWrites {
				t.Fatalf("%d writes of the connection, want %d", len(conn.writes), tc.wantWrites)
			}
			if got := len(bytes.Join(conn.writes, nil)); got != want {
				t.Fatalf("wrote %d bytes, want %d", got, want)
			}
			if len(conn.deadlines) != tc.wantDeadlines || (tc.wantDeadlines > 0 && conn.deadlines[0].IsZero()) {
				t.Fatalf("deadlines %v, want %d set", conn.deadlines, tc.wantDeadlines)
			}
			if tc.gather { // a second send moves the deadline, not clearing it in between
				gw.gather()
				frame(bw, 10)
				if err := gw.send(time.Second); err != nil {
					t.Fatal(err)
				}
				tc.wantWrites++
				if len(conn.deadlines) != 2 || conn.deadlines[1].IsZero() {
					t.Fatalf("deadlines %v after a second send: want two set", conn.deadlines)
				}
			}
			frame(bw, 10) // after send: straight through again, without the send's deadline
			if len(conn.writes) != tc.wantWrites+1 {
				t.Fatalf("a write after gathering was not written through")
			}
			wantAfter := len(conn.deadlines)
			if tc.gather {
				if last := conn.deadlines[len(conn.deadlines)-1]; !last.IsZero() {
					t.Fatalf("deadlines %v: the write after the sends kept their deadline", conn.deadlines)
				}
				frame(bw, 10) // cleared once, not before every write
				if len(conn.deadlines) != wantAfter {
					t.Fatalf("deadlines %v: cleared again", conn.deadlines)
				}
			} else if wantAfter != 0 {
				t.Fatalf("deadlines %v without a send", conn.deadlines)
			}
		})
	}
}

// closeRecordingConn is a recordingConn that records its closing, after its writes.
type closeRecordingConn struct {
	recordingConn
	closedAfter int // writes before Close; -1 while open
}

func (c *closeRecordingConn) Close() error {
	c.closedAfter = len(c.writes)
	return nil
}

// TestSendOnClose: the WebSocket library closes the connection right after writing its answer
// to a client's close frame; when that answer was gathered (the socket's writer was gathering
// frames), closing the connection first writes it, and what was gathered before it.
func TestSendOnClose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		gather     bool
		wantWrites int
	}{
		{"gathering", true, 1},
		{"not gathering", false, 2}, // written straight through; nothing left to send
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := &closeRecordingConn{closedAfter: -1}
			gw := &gatherWriter{conn: raw}
			conn := &sendOnCloseConn{Conn: raw, w: gw}
			if tc.gather {
				gw.gather()
			}
			gw.Write([]byte{0x81, 0x01, 'x'})        // a data frame of the socket's writer
			gw.Write([]byte{0x88, 0x02, 0x0b, 0xb8}) // the library's close frame, code 3000
			if err := conn.Close(); err != nil {
				t.Fatal(err)
			}
			want := []byte{0x81, 0x01, 'x', 0x88, 0x02, 0x0b, 0xb8}
			if got := bytes.Join(raw.writes, nil); !bytes.Equal(got, want) || raw.closedAfter != tc.wantWrites || len(raw.writes) != tc.wantWrites {
				t.Fatalf("wrote %x in %d writes, closed after %d; want %x, then closed", got, len(raw.writes), raw.closedAfter, want)
			}
			if tc.gather {
				if err := gw.send(time.Second); err != nil || len(raw.writes) != 1 {
					t.Fatalf("the writer's send after the close: %v, %d writes, want nothing more", err, len(raw.writes))
				}
			}
		})
	}
}

// TestSendKeepsToCloseDeadline: once the connection is closing, a send of the socket's writer
// (which the close waits for) writes within closeSendTimeout, not within its own, longer timeout.
func TestSendKeepsToCloseDeadline(t *testing.T) {
	t.Parallel()
	conn := &closeRecordingConn{closedAfter: -1}
	gw := &gatherWriter{conn: conn}
	gw.sendForClose() // nothing gathered: only marks the writer closing
	gw.gather()
	gw.Write([]byte{0x81, 0x01, 'x'})
	if err := gw.send(time.Hour); err != nil {
		t.Fatal(err)
	}
	// The deadlines set: the send's own, then the close's, left for the write.
	if n := len(conn.deadlines); n < 2 || conn.deadlines[n-1].IsZero() || !conn.deadlines[n-1].Before(time.Now().Add(closeSendTimeout)) {
		t.Fatalf("write deadlines %v: want the last before the write within %s", conn.deadlines, closeSendTimeout)
	}
}
