package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// The exit codes of livestore-sync, documented in the usage text. Scripts rely on them.
const (
	// exitOK: the command did what it was asked.
	exitOK = 0
	// exitFailure: anything else went wrong (server unreachable, request rejected, bad input).
	exitFailure = 1
	// exitUsage: the command line is wrong, or a destructive command lacks --yes.
	exitUsage = 2
	// exitNotFound: the store named on the command line does not exist.
	exitNotFound = 3
	// exitRefused: the server refused an admin call (secret missing or wrong, admin API off).
	exitRefused = 4
)

// exitError is an error that ends the command with a given exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e exitError) Unwrap() error { return e.err }

// exitCode is the exit code an error ends a command with.
func exitCode(err error) int {
	var exit exitError
	switch {
	case errors.As(err, new(usageError)):
		return exitUsage
	case errors.As(err, &exit):
		return exit.code
	}
	return exitFailure
}

// cliEnv is what a client command runs under: its context, which ends the command when done,
// and its standard streams.
type cliEnv struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// newFlagSet returns the flag set of the command `livestore-sync name`, whose --help prints
// the synopsis, the description and the flags to stderr.
func newFlagSet(name, synopsis, description string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: livestore-sync %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses args with fs, allowing flags before, between and after the positional
// arguments (all arguments after "--" are positional), and checks that exactly the named
// positional arguments are given. It returns them in order.
func parseArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < len(names):
		return nil, usageError{fmt.Errorf("missing %s (see livestore-sync %s --help)", strings.Join(names[len(pos):], " "), fs.Name())}
	case len(pos) > len(names):
		return nil, usageError{fmt.Errorf("unexpected arguments: %q (see livestore-sync %s --help)", pos[len(names):], fs.Name())}
	}
	return pos, nil
}
