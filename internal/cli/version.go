package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is kubepki's own version; release builds set it with
// -ldflags "-X github.com/kubepki/kubepki/internal/cli.Version=v1.2.3".
var Version = "devel"

func newVersionCommand(streams IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print kubepki's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(streams.Out, "kubepki %s\n", version())
			return err
		},
	}
}

// version is Version, or the module version of a "go install" build.
func version() string {
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "devel" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return v
}

// userAgent is the User-Agent of kubepki's API clients, in client-go's
// form: "kubepki/VERSION (OS/ARCH)". client-go's default names the
// binary and a client-go version that plain builds leave as "$Format".
func userAgent() string {
	return "kubepki/" + version() + " (" + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
