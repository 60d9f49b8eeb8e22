package ceiling

import "testing"

func TestPlainAck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		id   string
		fast bool
	}{
		{`{"_tag":"Ack","requestId":"17"}`, "17", true},
		{`{"_tag":"Ack","requestId":""}`, "", true},
		{`{"_tag":"Ack", "requestId":"17"}`, "", false},
		{`{"requestId":"17","_tag":"Ack"}`, "", false},
		{`{"_tag":"Ack","requestId":"1\"7"}`, "", false},
		{`{"_tag":"Ack","requestId":"1\u0037"}`, "", false},
		{`{"_tag":"Ack","requestId":"17"`, "", false},
		{`{"_tag":"Ping"}`, "", false},
	}
	for _, tt := range tests {
		id, ok := plainAck([]byte(tt.in))
		if id != tt.id || ok != tt.fast {
			t.Errorf("plainAck(%s) = %q, %t; want %q, %t", tt.in, id, ok, tt.id, tt.fast)
		}
	}
}
