package cli

import "github.com/spf13/cobra"

// newServeCommand is a placeholder until its command group lands.
func newServeCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newServeCommand", Hidden: true}
}
