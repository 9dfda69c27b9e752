package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Ctrl-C and SIGTERM. The first signal cancels the command's context: every
// stage (open, hash, decompress, fetch, train, evaluate) stops within about
// a second and the command saves what it had measured, then exits 130. A
// second signal quits at once, except while outputs are being written: it
// then waits until they are whole, so that a run's folder never holds
// half-written files or lacks its summary.json.

// interruptedBy is the cause of a signal's cancellation. It is
// context.Canceled to errors.Is, so every stage treats it as cancellation.
type interruptedBy struct{ sig os.Signal }

func (e interruptedBy) Error() string        { return "interrupted by " + signalName(e.sig) }
func (e interruptedBy) Is(target error) bool { return target == context.Canceled }

// interrupts holds back a second signal while outputs are written.
type interrupts struct {
	mu      sync.Mutex
	writing int  // write sections in progress
	pending bool // a second signal came during one
}

type interruptsKey struct{}

// watchSignals returns the context that the first SIGINT or SIGTERM
// cancels, and starts handling the signals that follow it.
func watchSignals() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	g := &interrupts{}
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "mnistgpu: %s: stopping, keeping what was measured (%s again quits at once)\n", signalName(sig), signalName(sig))
		cancel(interruptedBy{sig})
		for range signals {
			g.again()
		}
	}()
	return context.WithValue(ctx, interruptsKey{}, g)
}

// signalName is how a user knows the signal: Ctrl-C sends SIGINT.
func signalName(sig os.Signal) string {
	if sig == os.Interrupt {
		return "Ctrl-C"
	}
	if s, ok := sig.(syscall.Signal); ok && s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return sig.String()
}

// again handles a second (or later) signal.
func (g *interrupts) again() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.writing == 0 {
		os.Exit(130)
	}
	if !g.pending {
		fmt.Fprintln(os.Stderr, "mnistgpu: finishing the files being written, then stopping")
	}
	g.pending = true
}

// holdInterrupts marks a write section: until the returned release is
// called, a second signal does not end the process. The process is already
// stopping by then, so release does not exit; a signal after it does.
func holdInterrupts(ctx context.Context) (release func()) {
	g, ok := ctx.Value(interruptsKey{}).(*interrupts)
	if !ok {
		return func() {}
	}
	g.mu.Lock()
	g.writing++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		g.writing--
		if g.writing == 0 {
			g.pending = false
		}
		g.mu.Unlock()
	}
}
