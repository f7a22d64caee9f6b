package cli

import "github.com/spf13/cobra"

// newCertsCommand is a placeholder until its command group lands.
func newCertsCommand(_ IOStreams) *cobra.Command {
	return &cobra.Command{Use: "newCertsCommand", Hidden: true}
}
