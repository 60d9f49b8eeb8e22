package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestBatchLimits(t *testing.T) {
	t.Parallel()
	small := &syncv1.Event{Name: "e", Args: `{}`, SeqNum: 1, ClientId: "c", SessionId: "s"}
	var b batch
	for i := range batchEvents {
		if !b.fits(eventSize(small, false)) {
			t.Fatalf("event %d does not fit", i)
		}
		b.add(small, i+1, eventSize(small, false))
	}
	if b.fits(eventSize(small, false)) {
		t.Fatalf("batch takes more than %d events", batchEvents)
	}

	big := &syncv1.Event{Name: "e", Args: `"` + strings.Repeat("x", 400_000) + `"`, ClientId: "c", SessionId: "s"}
	size := eventjson.PulledEventSize(big)
	b.reset()
	for _, want := range []bool{true, true, false} {
		if got := b.fits(size); got != want {
			t.Fatalf("with %d bytes, fits(%d) = %v, want %v", b.bytes, size, got, want)
		}
		if want {
			b.add(big, 1, size)
		}
	}
	if b.bytes > batchBytes {
		t.Fatalf("batch of %d bytes", b.bytes)
	}
	// An event too large for any batch still goes alone: the server says what is wrong.
	b.reset()
	if !b.fits(batchBytes + 1) {
		t.Fatal("an empty batch refuses an event")
	}
	// Numbered events are measured with room for any seqNum.
	if eventSize(small, true) != eventjson.PulledEventSizeOf("e", `{}`, "c", "s", math.MaxUint64, math.MaxUint64) {
		t.Fatal("auto-numbered size")
	}
}

func TestRawMember(t *testing.T) {
	t.Parallel()
	tests := []struct {
		obj, want string
		found     bool
	}{
		{`{"name":"a","args":{"x": [1, 2]},"seqNum":1}`, `{"x": [1, 2]}`, true},
		{`{"args": 1 }`, ` 1 `, true},
		{"{\"args\":\n  [\"a\"]\n,\"b\":1}", "\n  [\"a\"]\n", true},
		{`{"a":{"args":1},"args":"x:y"}`, `"x:y"`, true},
		{`{"ARGS":null}`, `null`, true},
		{`{"args":1,"args":2}`, `2`, true},
		{`{"name":"a"}`, ``, false},
		{`[1]`, ``, false},
	}
	for _, tt := range tests {
		got, found := rawMember([]byte(tt.obj), "args")
		if string(got) != tt.want || found != tt.found {
			t.Errorf("rawMember(%s) = %q, %v; want %q, %v", tt.obj, got, found, tt.want, tt.found)
		}
	}
}

func TestEventReader(t *testing.T) {
	t.Parallel()
	in := "{\"name\":\"a\",\"args\": {\"x\": 1} ,\"seqNum\":1,\"parentSeqNum\":0}\n\n  {\"name\":\"b\"}{\"name\":\"c\",\"args\":null,\"clientId\":\"\",\"createdAt\":\"x\"}\n"
	for _, exact := range []bool{false, true} {
		r := newEventReader(strings.NewReader(in), exact)
		var got []*syncv1.Event
		for {
			e, err := r.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.event(cliID))
		}
		args := `{"x": 1}`
		if exact {
			args = ` {"x": 1} `
		}
		want := []*syncv1.Event{
			{Name: "a", Args: args, SeqNum: 1, ClientId: cliID, SessionId: cliID},
			{Name: "b", ClientId: cliID, SessionId: cliID},
			{Name: "c", Args: "null", ClientId: "", SessionId: cliID},
		}
		if len(got) != len(want) {
			t.Fatalf("exact=%v: %d events", exact, len(got))
		}
		for i := range want {
			if got[i].String() != want[i].String() {
				t.Errorf("exact=%v: event %d = %v, want %v", exact, i, got[i], want[i])
			}
		}
	}
}

func TestAppendEventLine(t *testing.T) {
	t.Parallel()
	e := &syncv1.Event{Name: "n", Args: `{"a": 1}`, SeqNum: 2, ParentSeqNum: 1, ClientId: "c", SessionId: "s"}
	ts := time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	got := string(appendEventLine(nil, &syncv1.PulledEvent{Event: e, Metadata: &syncv1.SyncMetadata{CreatedAt: timestamppb.New(ts)}}))
	want := `{"name":"n","args":{"a": 1},"seqNum":2,"parentSeqNum":1,"clientId":"c","sessionId":"s","createdAt":"2025-01-02T03:04:05.006Z"}` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := string(appendEventLine(nil, &syncv1.PulledEvent{Event: e})); got != string(eventjson.AppendEvent(nil, e))+"\n" {
		t.Fatalf("without createdAt: %s", got)
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		n        int
		wantPos  []string
		wantYes  bool
		wantUsge bool
	}{
		{[]string{"s"}, 1, []string{"s"}, false, false},
		{[]string{"--yes", "s"}, 1, []string{"s"}, true, false},
		{[]string{"s", "--yes"}, 1, []string{"s"}, true, false},
		{[]string{"--", "-s"}, 1, []string{"-s"}, false, false},
		{[]string{"--yes", "--", "--yes"}, 1, []string{"--yes"}, true, false},
		{[]string{}, 1, nil, false, true},
		{[]string{"a", "b"}, 1, nil, false, true},
		{[]string{"--nope"}, 0, nil, false, true},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		yes := fs.Bool("yes", false, "")
		names := []string{"STORE"}[:tt.n]
		pos, err := parseArgs(fs, tt.args, names...)
		if tt.wantUsge {
			if !errors.As(err, new(usageError)) {
				t.Errorf("%q: err = %v, want a usage error", tt.args, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(pos, tt.wantPos) || *yes != tt.wantYes {
			t.Errorf("%q: %q, yes=%v, %v", tt.args, pos, *yes, err)
		}
	}
}

func TestServerURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://localhost:8787":  "http://localhost:8787",
		"localhost:8787":         "http://localhost:8787",
		"https://sync.example/":  "https://sync.example",
		"http://h:1/prefix/":     "http://h:1/prefix",
		"ftp://h":                "",
		"":                       "",
		"http://":                "",
		"http://[::1]:8787/////": "http://[::1]:8787",
	} {
		got, err := serverURL(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("serverURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if plural(1, "event") != "1 event" || plural(uint64(0), "event") != "0 events" {
		t.Error("plural")
	}
	for in, want := range map[string]string{"s": "s", "a b": "'a b'", "it's": `'it'\''s'`, "-x": "-- -x", "": "''", "ü": "'ü'"} {
		if got := shellArg(in); got != want {
			t.Errorf("shellArg(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"s": "s", "bêta": "bêta", "a b": `"a b"`, "": `""`, "a\nb": `"a\nb"`} {
		if got := displayID(in); got != want {
			t.Errorf("displayID(%q) = %q, want %q", in, got, want)
		}
	}
	// Progress is silent when stderr is not a terminal.
	var buf bytes.Buffer
	p := newProgress(&buf, "exported")
	p.add(5)
	p.done()
	if buf.Len() != 0 {
		t.Fatalf("progress wrote %q to a buffer", buf.String())
	}
}
