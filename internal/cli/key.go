package cli

import "github.com/spf13/cobra"

// newKeyCommand is a placeholder until its command group lands.
func newKeyCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newKeyCommand", Hidden: true}
}
