// Command livestore-sync is a sync backend for LiveStore apps: LiveStore's WebSocket and HTTP
// sync protocols, and the livestore.sync.v1.SyncService API over Connect, gRPC and gRPC-Web, all
// on one port, with each store's events kept durably in an embedded Pebble database, or in a
// PostgreSQL database that any number of servers share (serve --postgres).
//
// The same binary is also a client of a running server: it lists, inspects, resets and deletes
// stores, tails, exports, imports and pushes events, and takes backups.
//
// Usage:
//
//	livestore-sync serve [flags]
//	livestore-sync stores list|info|reset|delete …
//	livestore-sync tail|export|import|push STORE [flags]
//	livestore-sync backup DIR
//	livestore-sync bench push|pull|fanout|sockets|mixed [flags]
//
// Run `livestore-sync help` for the commands and `livestore-sync COMMAND --help` for their flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `livestore-sync: a sync backend for LiveStore apps

Usage:
  livestore-sync serve [flags]                   run the server (see livestore-sync serve --help)

Client commands, for a running server:
  livestore-sync stores list [--json]            list the stores (admin)
  livestore-sync stores info STORE [--json]      describe a store (admin)
  livestore-sync stores reset STORE --yes        drop a store's events; new backend id (admin)
  livestore-sync stores delete STORE --yes       delete a store and its events (admin)
  livestore-sync tail STORE [--from N] [--no-follow]
                                                 print a store's events as JSON lines, then follow
  livestore-sync export STORE [--out FILE]       write a store's events as JSON lines
  livestore-sync import STORE [--in FILE]        push exported JSON lines into a store
  livestore-sync push STORE [--in FILE]          append events given as JSON lines
  livestore-sync backup DIR                      back the database up into DIR, on the server (admin)
  livestore-sync bench push|pull|fanout|sockets|mixed [flags]
                                                 generate load over LiveStore's WebSocket protocol and
                                                 measure it (see livestore-sync bench --help)
  livestore-sync help                            show this help

Every client command takes --server URL (default http://localhost:8787, env
LIVESTORE_SYNC_SERVER) and --admin-secret SECRET (env LIVESTORE_SYNC_ADMIN_SECRET), which the
admin commands need. Run livestore-sync COMMAND --help for a command's flags.

Exit codes:
  0  success
  1  failure (server unreachable, request rejected, bad input, …)
  2  usage error (or a destructive command without --yes)
  3  the store does not exist
  4  refused: admin secret missing or wrong, or the server's admin API is off
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		reexecForServe(os.Stderr) // procenv.go
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args, reading os.Stdin, and returns the exit code (see usage).
func run(args []string, stdout, stderr io.Writer) int {
	return runWith(context.Background(), args, os.Stdin, stdout, stderr)
}

// runWith runs the command line args with the given standard streams until ctx ends, and
// returns the exit code: 0 on success, 2 for a usage error, the code of an exitError, 1 for any
// other failure.
func runWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	env := &cliEnv{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stderr)
	case "stores":
		err = storesCmd(env, args[1:])
	case "tail":
		err = tailCmd(env, args[1:])
	case "export":
		err = exportCmd(env, args[1:])
	case "import":
		err = importCmd(env, args[1:])
	case "push":
		err = pushCmd(env, args[1:])
	case "backup":
		err = backupCmd(env, args[1:])
	case "bench":
		err = benchCmd(env, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "livestore-sync: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	name := args[0]
	if name == "stores" && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		name += " " + args[1]
	}
	fmt.Fprintf(stderr, "livestore-sync %s: %v\n", name, err)
	return exitCode(err)
}

// usageError is a mistake in the command line.
type usageError struct{ error }
