package cli

import "github.com/spf13/cobra"

// newBenchCommand is a placeholder until its command group lands.
func newBenchCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newBenchCommand", Hidden: true}
}
