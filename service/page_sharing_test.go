package service_test

import (
	"context"
	"errors"
	"testing"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/prometheus/client_golang/prometheus"
)

// TestLivePagesShared checks that the live pulls of a store get one Page per page of a push, so
// that it is encoded once for all of them.
func TestLivePagesShared(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	svc := newService(t, "", service.Options{Metrics: service.NewMetrics(reg)})
	lp := service.CountLivePulls(svc)
	const pulls = 3
	errDone := errors.New("done")
	got := make(chan *service.Page, pulls)
	ended := make(chan error, pulls)
	for range pulls {
		go func() {
			ended <- svc.PullPages(context.Background(), &syncv1.PullRequest{StoreId: "shared", Live: true}, func(p *service.Page) error {
				if p.Len() == 0 {
					return nil // the empty backlog
				}
				got <- p
				return errDone
			})
		}()
	}
	lp.WaitFor(t, pulls) // every pull subscribed
	push(t, svc, "shared", events(0, 3))
	first := <-got
	for range pulls - 1 {
		if p := <-got; p != first {
			t.Errorf("live pulls got different pages of one push")
		} else if &p.JSON()[0] != &first.JSON()[0] {
			t.Error("the page's JSON was encoded more than once")
		}
	}
	for range pulls {
		if err := <-ended; !errors.Is(err, errDone) {
			t.Errorf("pull ended with %v", err)
		}
	}
}
