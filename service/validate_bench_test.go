package service

import (
	"fmt"
	"testing"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
)

// BenchmarkValidateBatch measures the checks of a 100-event push batch as LiveStore's client
// makes them.
func BenchmarkValidateBatch(b *testing.B) {
	s := &Service{limits: DefaultLimits()}
	batch := make([]*syncv1.Event, 100)
	for i := range batch {
		batch[i] = &syncv1.Event{
			Name:         "todoCreated-v1",
			Args:         fmt.Sprintf(`{"id":"todo-%d","text":"Todo number %d","completed":false}`, i, i),
			SeqNum:       uint64(i + 1),
			ParentSeqNum: uint64(i),
			ClientId:     "client-a",
			SessionId:    "session-a",
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.validateBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
}
