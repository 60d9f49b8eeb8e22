package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progressInterval is how often a progress counter is redrawn at most.
const progressInterval = 100 * time.Millisecond

// progress is a counter of events redrawn in place on stderr, for long exports and imports.
// It draws nothing unless stderr is a terminal, so that logs and pipes stay clean.
type progress struct {
	w     io.Writer // nil when off
	verb  string
	total uint64 // 0 when unknown
	n     uint64
	drawn time.Time
}

// newProgress returns a progress counter that writes "\r<verb> n[/total] events" to stderr
// when stderr is a terminal, and nothing otherwise.
func newProgress(stderr io.Writer, verb string) *progress {
	p := &progress{verb: verb}
	if isTerminal(stderr) {
		p.w = stderr
	}
	return p
}

// isTerminal tells whether the stream s (stdin, stdout or stderr) is a terminal (a character
// device).
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// setTotal sets the number of events expected in all.
func (p *progress) setTotal(total uint64) { p.total = total }

// add counts n more events and redraws the counter when it was not drawn recently.
func (p *progress) add(n int) {
	p.n += uint64(n)
	if p.w != nil && time.Since(p.drawn) >= progressInterval {
		p.draw()
	}
}

func (p *progress) draw() {
	p.drawn = time.Now()
	if p.total > 0 {
		fmt.Fprintf(p.w, "\r%s %d/%d events", p.verb, p.n, p.total)
	} else {
		fmt.Fprintf(p.w, "\r%s %d events", p.verb, p.n)
	}
}

// done draws the final count and ends its line, if anything was drawn. The counter stays
// silent afterwards.
func (p *progress) done() {
	if p.w != nil && !p.drawn.IsZero() {
		p.draw()
		fmt.Fprintln(p.w)
	}
	p.w = nil
}
