package cli

import "github.com/spf13/cobra"

// newNodeCommand is a placeholder until its command group lands.
func newNodeCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newNodeCommand", Hidden: true}
}
