package cli

import "github.com/spf13/cobra"

// newCACommand is a placeholder until its command group lands.
func newCACommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newCACommand", Hidden: true}
}
