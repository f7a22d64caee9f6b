package cli

import "github.com/spf13/cobra"

// newLintCommand is a placeholder until its command group lands.
func newLintCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newLintCommand", Hidden: true}
}
