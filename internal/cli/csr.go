package cli

import "github.com/spf13/cobra"

// newCSRCommand is a placeholder until its command group lands.
func newCSRCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newCSRCommand", Hidden: true}
}
