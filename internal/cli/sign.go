package cli

import "github.com/spf13/cobra"

// newSignCommand is a placeholder until its command group lands.
func newSignCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newSignCommand", Hidden: true}
}
