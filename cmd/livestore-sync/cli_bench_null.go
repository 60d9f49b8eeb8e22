package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/livestore-sync/livestore-sync/internal/loadgen/ceiling"
)

const nullServerDescription = `
Runs the null server of bench --ceiling on a free loopback port, prints its ws:// URL as its first
line of output, and serves until its standard input ends. The null server speaks LiveStore's
WebSocket protocol and does the least a server can (events in memory, nothing checked but a push's
parent): a measuring device for load tools, not a sync backend.
`

// nullServerCmd runs `livestore-sync bench null-server`.
func nullServerCmd(env *cliEnv, args []string) error {
	fs := newFlagSet("bench null-server", "bench null-server", nullServerDescription, env.stderr)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	null, err := ceiling.StartNullServer()
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, null.URL())
	stdinEnded := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, env.stdin)
		close(stdinEnded)
	}()
	select {
	case <-stdinEnded:
	case <-env.ctx.Done():
	}
	return null.Close()
}

// nullServerExecutable is the binary that startNullServer runs: this one (tests set the one they
// built).
var nullServerExecutable = os.Executable

// nullServerProcess is `livestore-sync bench null-server` running as a child process, so that
// bench --ceiling measures the null server's CPU and memory as it measures the server's, apart
// from its own, and the null server does not slow the load generator down by sharing its
// process (heap, collections, scheduler).
type nullServerProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string
}

// startNullServer starts the null server's process, with the runtime settings serve gives
// itself (serveEnv), and waits for its URL. The process ends when ctx does, or with Close.
func startNullServer(ctx context.Context, stderr io.Writer) (*nullServerProcess, error) {
	exe, err := nullServerExecutable()
	if err != nil {
		return nil, fmt.Errorf("null server: this binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "bench", "null-server")
	cmd.Env, _ = serveEnv(os.Environ())
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("null server: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("null server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("null server: %w", err)
	}
	p := &nullServerProcess{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	p.url = strings.TrimSpace(line)
	if err != nil || !strings.HasPrefix(p.url, "ws://") {
		closeErr := p.Close()
		return nil, fmt.Errorf("null server: no URL printed (%q): %w", line, errors.Join(err, closeErr))
	}
	return p, nil
}

// URL is the null server's address.
func (p *nullServerProcess) URL() string { return p.url }

// PID is the null server's process id.
func (p *nullServerProcess) PID() int { return p.cmd.Process.Pid }

// Close ends the null server's standard input and waits for it to exit.
func (p *nullServerProcess) Close() error {
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		return fmt.Errorf("null server: %w", err)
	}
	return nil
}
