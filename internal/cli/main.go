package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main runs the kubepki command with the process's arguments, cancelled
// by SIGINT or SIGTERM, and exits with its exit code ([exitStatus]). The
// kubepki binary is this; tests that run the real command in a child
// process of their own binary call it too.
func Main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		if s, ok := <-sigs; ok {
			cancel(&signalError{sig: s})
		}
	}()
	err := NewRootCommand(StdStreams()).ExecuteContext(ctx)
	signal.Stop(sigs)
	printError(os.Stderr, err)
	os.Exit(exitStatus(ctx, err))
}

// signalError is the cause of the command's context when a signal
// cancelled it.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return "received " + e.sig.String() }

// exitStatus returns the process's exit status for the command's error:
// [ExitCode], except that a command that failed after a signal cancelled
// ctx exits as shells report a process ended by that signal, 128 plus
// its number: 130 for SIGINT (Ctrl-C), 143 for SIGTERM. A command that
// finished its work despite the signal (serve draining) exits 0.
func exitStatus(ctx context.Context, err error) int {
	if err != nil {
		if se, ok := errors.AsType[*signalError](context.Cause(ctx)); ok {
			if n, ok := se.sig.(syscall.Signal); ok {
				return 128 + int(n)
			}
		}
	}
	return ExitCode(err)
}

// printError writes err to w as kubectl does: an answer of the API server
// (a Status) as it is, "Error from server (Reason): message", and any
// other error after "error: ". An error with no text (an [*ExitError]
// without one) prints nothing.
func printError(w io.Writer, err error) {
	if err == nil || err.Error() == "" {
		return
	}
	if isServerError(err) {
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprintln(w, "error:", err)
}

// isServerError reports whether err is a [*serverError] itself, not one
// wrapped in a message of ours, or a join of nothing but those (the
// errors of "csr get A B").
func isServerError(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		for _, e := range errs {
			if !isServerError(e) {
				return false
			}
		}
		return len(errs) > 0
	}
	_, ok := err.(*serverError)
	return ok
}
