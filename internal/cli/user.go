package cli

import "github.com/spf13/cobra"

// newUserCommand is a placeholder until its command group lands.
func newUserCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newUserCommand", Hidden: true}
}
