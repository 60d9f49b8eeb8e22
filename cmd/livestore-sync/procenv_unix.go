//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// reexecForServe executes the binary again, in this process, with serveEnv's settings added to
// its environment, when they are missing; it returns only when they are there already, or when
// that fails (then the server runs without them, and says so on stderr).
func reexecForServe(stderr io.Writer) {
	env, changed := serveEnv(os.Environ())
	if !changed {
		return
	}
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, env) // returns only when it fails
	}
	fmt.Fprintf(stderr, "livestore-sync: running without %s and %s settings: re-executing with them: %v\n", tunablesVar, godebugVar, err)
}
