package cli

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"text/tabwriter"

	"github.com/kubepki/kubepki/internal/cluster"
	"github.com/kubepki/kubepki/internal/pki"
)

// IOStreams are the standard streams a command reads and writes. Tests pass
// buffers; main passes the process's own.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// StdStreams returns the process's standard input, output and error.
func StdStreams() IOStreams {
	return IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
}

// isTerminal reports whether w is a character device, so that progress is
// shown on a terminal and stays quiet when piped.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0
}

// terminalProgress returns a progress callback for long runs of the
// cluster package that redraws one "N/TOTAL keys and certificates" line
// on w, or nil when w is not a terminal, so that piped output stays quiet.
func terminalProgress(w io.Writer) func(done, total int) {
	if !isTerminal(w) {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(w, "\r%d/%d keys and certificates", done, total)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}

// fileWriter returns pki.WriteFile when force allows replacing an existing
// file, and pki.WriteFileNew, which refuses to, otherwise.
func fileWriter(force bool) func(path string, data []byte, perm fs.FileMode) error {
	if force {
		return pki.WriteFile
	}
	return pki.WriteFileNew
}

// writeOutput writes data to stdout when path is empty, and otherwise to
// path with mode (atomically, replacing only with force), then says
// "created" or "replaced".
func writeOutput(streams IOStreams, path string, data []byte, mode fs.FileMode, force bool) error {
	if path == "" {
		_, err := streams.Out.Write(data)
		return err
	}
	status := statusBefore(path)
	if err := fileWriter(force)(path, data, mode); err != nil {
		return fmt.Errorf("%w; check that the folder exists and is writable", err)
	}
	return printFileStatuses(streams.Out, fileStatus{status, path})
}

// fileStatus is one "STATUS  PATH" line of a command's output.
type fileStatus struct {
	status cluster.Status
	path   string
}

// statusBefore is what writing path is about to do to it: replace a file
// that is there, or create one.
func statusBefore(path string) cluster.Status {
	if _, err := os.Lstat(path); err == nil {
		return cluster.StatusReplaced
	}
	return cluster.StatusCreated
}

// printFileStatuses prints one "STATUS  PATH" line per file, aligned as
// init and certs renew print theirs.
func printFileStatuses(out io.Writer, files ...fileStatus) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, f := range files {
		fmt.Fprintf(tw, "%s\t%s\n", f.status, f.path)
	}
	return tw.Flush()
}

// tuneGCForRun sets the garbage collector to cluster.GCPercent for the
// rest of a short-lived offline command, unless the user set GOGC.
func tuneGCForRun() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cluster.GCPercent)
	}
}
