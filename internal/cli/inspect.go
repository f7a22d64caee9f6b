package cli

import "github.com/spf13/cobra"

// newInspectCommand is a placeholder until its command group lands.
func newInspectCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newInspectCommand", Hidden: true}
}
