//go:build !unix

package main

import "io"

// reexecForServe does nothing where a process cannot execute itself again in place: the server
// runs with the environment it was given.
func reexecForServe(io.Writer) {}
