package cli

import "github.com/spf13/cobra"

// newInitCommand is a placeholder until its command group lands.
func newInitCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newInitCommand", Hidden: true}
}
