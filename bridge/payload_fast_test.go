package bridge

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestDecodeBatchFast checks which batches the fast decoder takes (the general decoder's answer
// for the others is tested with it, in payload_test.go and by FuzzDecodeClientMessage), and that
// what it takes it decodes as the general decoder does.
func TestDecodeBatchFast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, batch string
		fast        bool
	}{
		{"client form", `[` + eventJSON(1, `{"id":"t1","text":"a \"b\" {c}","done":false}`) + `,` + eventJSON(2, `[1,2]`) + `]`, true},
		{"no args", `[{"name":"e","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}]`, true},
		{"scalar args", `[` + eventJSON(1, `-1.5e3`) + `,` + eventJSON(2, `null`) + `,` + eventJSON(3, `"x"`) + `]`, true},
		{"unicode", `[{"name":"é","args":{"t":"ü\u00e9"},"seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}]`, true},
		{"escaped name", `[{"name":"a\"","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}]`, false},
		{"space", `[ {"name":"e","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s"}]`, false},
		{"other order", `[{"seqNum":1,"name":"e","parentSeqNum":0,"clientId":"c","sessionId":"s"}]`, false},
		{"extra key", `[{"name":"e","seqNum":1,"parentSeqNum":0,"clientId":"c","sessionId":"s","x":1}]`, false},
		{"float seqNum", `[{"name":"e","seqNum":1.0,"parentSeqNum":0,"clientId":"c","sessionId":"s"}]`, false},
		{"seqNum over 2^64", `[{"name":"e","seqNum":18446744073709551616,"parentSeqNum":0,"clientId":"c","sessionId":"s"}]`, false},
		{"empty", `[]`, false},
		{"not events", `[1]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fast, ok := decodeBatchFast([]byte(tt.batch))
			if ok != tt.fast {
				t.Fatalf("decodeBatchFast took it: %v, want %v", ok, tt.fast)
			}
			if !ok {
				return
			}
			general, perr := decodeBatchGeneral([]byte(tt.batch))
			if perr != nil || len(general) != len(fast) {
				t.Fatalf("general decoder: %d events, %v; fast: %d", len(general), perr, len(fast))
			}
			for i := range fast {
				if !proto.Equal(fast[i], general[i]) {
					t.Errorf("event %d: fast %v, general %v", i, fast[i], general[i])
				}
			}
		})
	}
}

// TestDecodeClientMessageBatch checks that a push frame's batch in the form LiveStore's client
// sends is decoded with the frame (clientMessage.Batch), as decodeBatchFast decodes it alone,
// and that a later payload or batch than the one decoded wins over it.
func TestDecodeClientMessageBatch(t *testing.T) {
	t.Parallel()
	batch := `[` + eventJSON(1, `{"id":"t1"}`) + `,` + eventJSON(2, `[1,2]`) + `]`
	other := `[` + eventJSON(5, `null`) + `]`
	frame := func(payload string) []byte {
		return []byte(`{"_tag":"Request","id":"1","tag":"SyncWsRpc.Push","payload":` + payload + `,"headers":[]}`)
	}
	tests := []struct {
		name, frame string
		want        string // the batch decoded with the frame, "" for none
	}{
		{"client form", string(frame(`{"storeId":"s","batch":` + batch + `,"backendId":{"_tag":"None"}}`)), batch},
		{"batch again", string(frame(`{"storeId":"s","batch":` + batch + `,"batch":` + other + `}`)), other},
		{"batch again, not fast", string(frame(`{"storeId":"s","batch":` + batch + `,"batch":[ ]}`)), ""},
		{"payload again", `{"_tag":"Request","id":"1","tag":"SyncWsRpc.Push","payload":{"batch":` + batch + `},"payload":{"storeId":"s"}}`, ""},
		{"not the client form", string(frame(`{"storeId":"s","batch":[ ` + batch[1:] + `}`)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, d := decodeClientMessage([]byte(tt.frame))
			if d != nil {
				t.Fatalf("defect %v", d)
			}
			if tt.want == "" {
				if m.Batch != nil {
					t.Fatalf("decoded a batch with the frame: %v", m.Batch)
				}
				return
			}
			want, ok := decodeBatchFast([]byte(tt.want))
			if !ok || len(m.Batch) != len(want) {
				t.Fatalf("decoded %d events with the frame, want %d", len(m.Batch), len(want))
			}
			for i := range want {
				if !proto.Equal(m.Batch[i], want[i]) {
					t.Errorf("event %d: %v, want %v", i, m.Batch[i], want[i])
				}
			}
		})
	}
}
