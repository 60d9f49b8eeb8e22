// Package testhooks lets the module's tests observe what another of its packages does inside,
// so that they wait for it to happen instead of polling. A hook is set by the package it
// observes (in an init function) and costs nothing until a test uses it; the package is
// internal, so nothing outside the module can.
package testhooks

// ObserveLivePulls, set by package service, makes svc (a *service.Service) call f with +1 when
// one of its live pulls has subscribed to its store's pushes and with -1 when one has ended.
// Call it before any pull of svc starts; f runs on the pull's goroutine and must not block. The
// bridge's tests wait on it for their pulls to be live.
var ObserveLivePulls func(svc any, f func(d int))
