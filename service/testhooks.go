package service

import "github.com/livestore-sync/livestore-sync/internal/testhooks"

// Tests of the packages over the service observe its live pulls through the same observer as
// its own tests (onLivePull, export_test.go).
func init() {
	testhooks.ObserveLivePulls = func(svc any, f func(d int)) { svc.(*Service).onLivePull = f }
}
