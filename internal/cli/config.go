package cli

import "github.com/spf13/cobra"

// newConfigCommand is a placeholder until its command group lands.
func newConfigCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newConfigCommand", Hidden: true}
}
