package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main runs the kubepki command with the process's arguments, cancelled
// by SIGINT or SIGTERM, and exits with its exit code. The kubepki binary
// is this; tests that run the real command in a child process of their
// own binary call it too.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := NewRootCommand(StdStreams()).ExecuteContext(ctx)
	stop()
	if err != nil && err.Error() != "" {
		fmt.Fprintln(os.Stderr, "error:", err)
	}
	os.Exit(ExitCode(err))
}
