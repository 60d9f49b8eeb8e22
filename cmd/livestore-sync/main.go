// Command livestore-sync is a sync backend for LiveStore apps: LiveStore's WebSocket and HTTP
// sync protocols, and the livestore.sync.v1.SyncService API over Connect, gRPC and gRPC-Web, all
// on one port, with each store's events kept durably in an embedded Pebble database.
//
// Usage:
//
//	livestore-sync serve [flags]
//
// Run `livestore-sync serve --help` for the flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `livestore-sync: a sync backend for LiveStore apps

Usage:
  livestore-sync serve [flags]   run the server (see livestore-sync serve --help)
  livestore-sync help            show this help
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code: 0 on success, 2 for a usage error,
// 1 for any other failure.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "livestore-sync: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "livestore-sync %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "livestore-sync %s: %v\n", args[0], err)
		return 1
	}
}

// usageError is a mistake in the command line.
type usageError struct{ error }
