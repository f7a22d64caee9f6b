package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/tools/clientcmd/api/latest"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"

	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
)

// configFlags are the flags shared by every "config" subcommand.
type configFlags struct {
	kubeconfig string
}

// access returns kubectl's config access for the flags and the current
// environment ($KUBECONFIG, $HOME).
func (f *configFlags) access() *clientcmd.PathOptions {
	return kubeconfig.PathOptions(f.kubeconfig)
}

// configFile is the file kubectl names in its messages: --kubeconfig if
// given, else the default destination file.
func configFile(access clientcmd.ConfigAccess) string {
	if access.IsExplicitFile() {
		return access.GetExplicitFile()
	}
	return access.GetDefaultFilename()
}

// modifyConfig writes cfg as kubectl config does, each file replaced
// atomically and left 0600 ([kubeconfig.Modify]; clientcmd.ModifyConfig
// would truncate and rewrite it in place, keeping its mode), and says so
// on errOut when a file that was open to group or others is now 0600.
func modifyConfig(errOut io.Writer, access clientcmd.ConfigAccess, cfg *clientcmdapi.Config) error {
	written, err := kubeconfig.Modify(access, cfg)
	for _, w := range written {
		if w.Existed && pki.OpenToOthers(w.OldMode) {
			fmt.Fprintf(errOut, "note: %s had mode %04o, open to group or others; it is now %04o\n", w.Target, w.OldMode, pki.ModeKubeconfig)
		}
	}
	return err
}

// newConfigCommand builds the "config" group: kubectl's kubeconfig commands
// on clientcmd's own loading, merging and writing rules, plus check and
// merge.
func newConfigCommand(streams IOStreams) *cobra.Command {
	flags := &configFlags{}
	cmd := &cobra.Command{
		Use:   "config SUBCOMMAND",
		Short: "Modify and check kubeconfig files as kubectl config does",
		Long: `Modify kubeconfig files with kubectl's own rules: files are loaded from
--kubeconfig if given (that file only), else from every file in $KUBECONFIG
(merged, the first file defining a name wins), else from ~/.kube/config. A
change to an existing entry is written to the file it came from; a new entry or
a new current-context goes to --kubeconfig, the first existing $KUBECONFIG file
(or the last one if none exists), or ~/.kube/config.

Each file is replaced atomically: the new content is written to a temporary
file in the file's folder and renamed over it, so that no reader and no failed
or interrupted write ever leaves a kubeconfig half-written. Files are written
0600, also one that was readable by others before (a note on stderr says so).
A symlink is written through to its target and stays a symlink. Run as root,
a file keeps its owner and group; run as another user, a file that user does
not own is not replaced.

"config check" verifies every context's credentials and server; "config merge"
writes one file from several and reports conflicts.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return &UsageError{Err: errors.New(`"config" needs a subcommand; see "kubepki config --help"`)}
		},
	}
	cmd.PersistentFlags().StringVar(&flags.kubeconfig, clientcmd.RecommendedConfigPathFlag, "", "use only this kubeconfig file")
	cmd.AddCommand(
		newConfigViewCommand(streams, flags),
		newConfigCurrentContextCommand(streams, flags),
		newConfigUseContextCommand(streams, flags),
		newConfigGetContextsCommand(streams, flags),
		newConfigGetClustersCommand(streams, flags),
		newConfigGetUsersCommand(streams, flags),
		newConfigSetClusterCommand(streams, flags),
		newConfigSetCredentialsCommand(streams, flags),
		newConfigSetContextCommand(streams, flags),
		newConfigDeleteContextCommand(streams, flags),
		newConfigDeleteClusterCommand(streams, flags),
		newConfigDeleteUserCommand(streams, flags),
		newConfigRenameContextCommand(streams, flags),
		newConfigCheckCommand(streams, flags),
		newConfigMergeCommand(streams),
	)
	return cmd
}

// configViewOptions are the options of "config view".
type configViewOptions struct {
	flags   *configFlags
	output  string
	context string
	minify  bool
	flatten bool
	raw     bool
	merge   string

	doMerge bool
}

func newConfigViewCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	o := &configViewOptions{flags: flags, output: "yaml", merge: "true"}
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Display the merged kubeconfig settings or one kubeconfig file",
		Long: `Display the merged kubeconfig settings, or the file given with --kubeconfig,
exactly as "kubectl config view" does. Certificate and key data are shown as
DATA+OMITTED and tokens and passwords as REDACTED unless --raw or --flatten is
given. --flatten embeds every referenced file; --minify keeps only the current
context (or --context) and its cluster and user.`,
		Example: `  kubepki config view
  kubepki config view --minify --raw
  kubepki config view --kubeconfig admin.conf -o jsonpath='{.clusters[0].cluster.server}'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(streams.Out)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "output format: yaml, json or jsonpath=TEMPLATE")
	cmd.Flags().StringVar(&o.context, "context", "", "with --minify, the context to keep instead of the current one")
	cmd.Flags().BoolVar(&o.minify, "minify", false, "remove all information not used by the current context")
	cmd.Flags().BoolVar(&o.flatten, "flatten", false, "embed every referenced file, for a self-contained output")
	cmd.Flags().BoolVar(&o.raw, "raw", false, "display certificate, key and token data unredacted")
	cmd.Flags().StringVar(&o.merge, "merge", o.merge, "merge the full hierarchy of kubeconfig files (default true, false with --kubeconfig)")
	cmd.Flags().Lookup("merge").NoOptDefVal = "true"
	return cmd
}

// Complete settles --merge: true unless --kubeconfig is given, as kubectl.
func (o *configViewOptions) Complete(cmd *cobra.Command) error {
	m, err := strconv.ParseBool(o.merge)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("invalid --merge value %q: want true or false", o.merge)}
	}
	o.doMerge = m
	if o.flags.kubeconfig != "" && !cmd.Flags().Changed("merge") {
		o.doMerge = false
	}
	return nil
}

// Validate checks the output format and the merge setting.
func (o *configViewOptions) Validate() error {
	if !o.doMerge && o.flags.kubeconfig == "" {
		return &UsageError{Err: errors.New("if merge==false a precise file must be specified")}
	}
	return checkOutputFormat(o.output, "yaml", "json")
}

// Run prints the configuration.
func (o *configViewOptions) Run(out io.Writer) error {
	access := o.flags.access()
	var cfg *clientcmdapi.Config
	var err error
	if o.doMerge {
		cfg, err = access.GetStartingConfig()
	} else {
		cfg, err = clientcmd.LoadFromFile(access.GetExplicitFile())
	}
	if err != nil {
		return err
	}
	if o.minify {
		if o.context != "" {
			cfg.CurrentContext = o.context
		}
		if err := clientcmdapi.MinifyConfig(cfg); err != nil {
			return err
		}
	}
	if o.flatten {
		if err := clientcmdapi.FlattenConfig(cfg); err != nil {
			return err
		}
	} else if !o.raw {
		// As kubectl config view: passwords and every other secret field
		// become REDACTED, then data fields DATA+OMITTED.
		if err := clientcmdapi.RedactSecrets(cfg); err != nil {
			return fmt.Errorf("redact the kubeconfig's secrets: %w", err)
		}
		clientcmdapi.ShortenConfig(cfg)
	}
	v1, err := latest.Scheme.ConvertToVersion(cfg, latest.ExternalVersion)
	if err != nil {
		return fmt.Errorf("convert kubeconfig to v1: %w", err)
	}
	data, err := json.Marshal(v1)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	// kubectl prints "preferences: {}" even when empty; client-go's v1
	// types omit an empty one (omitzero). Put it back so the output is
	// kubectl's byte for byte.
	if !bytes.Contains(data, []byte(`"preferences":`)) {
		const head = `{"kind":"Config","apiVersion":"v1",`
		if rest, ok := bytes.CutPrefix(data, []byte(head)); ok {
			data = append([]byte(head+`"preferences":{},`), rest...)
		}
	}
	return printFormatted(out, o.output, json.RawMessage(data))
}

// checkOutputFormat reports a usage error unless format is one of allowed
// or a jsonpath template.
func checkOutputFormat(format string, allowed ...string) error {
	if strings.HasPrefix(format, "jsonpath=") {
		_, err := parseJSONPath(strings.TrimPrefix(format, "jsonpath="))
		return err
	}
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return &UsageError{Err: fmt.Errorf("unknown output format %q: want one of %s or jsonpath=TEMPLATE", format, strings.Join(allowed, ", "))}
}

// parseJSONPath parses a kubectl -o jsonpath template; missing keys print
// nothing, as with kubectl's default --allow-missing-template-keys.
func parseJSONPath(tmpl string) (*jsonpath.JSONPath, error) {
	jp := jsonpath.New("output").AllowMissingKeys(true)
	if err := jp.Parse(tmpl); err != nil {
		return nil, &UsageError{Err: fmt.Errorf("parse jsonpath template %q: %w", tmpl, err)}
	}
	return jp, nil
}

// printFormatted writes obj as kubectl's printers do: "json" indented by
// four spaces, "yaml" through the JSON field names, or "jsonpath=TEMPLATE"
// evaluated on the JSON form.
func printFormatted(out io.Writer, format string, obj any) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	switch {
	case format == "json":
		var buf bytes.Buffer
		if err := json.Indent(&buf, data, "", "    "); err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		buf.WriteByte('\n')
		_, err = out.Write(buf.Bytes())
		return err
	case format == "yaml" || format == "":
		y, err := yaml.JSONToYAML(data)
		if err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		_, err = out.Write(y)
		return err
	case strings.HasPrefix(format, "jsonpath="):
		jp, err := parseJSONPath(strings.TrimPrefix(format, "jsonpath="))
		if err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("encode output: %w", err)
		}
		if err := jp.Execute(out, v); err != nil {
			return fmt.Errorf("evaluate jsonpath %q: %w", strings.TrimPrefix(format, "jsonpath="), err)
		}
		return nil
	}
	return &UsageError{Err: fmt.Errorf("unknown output format %q", format)}
}

// newTable returns a tab writer laid out like kubectl's tables.
func newTable(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 6, 4, 3, ' ', 0)
}

func newConfigCurrentContextCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "current-context",
		Short:   "Display the current context",
		Long:    `Display the current-context of the loaded kubeconfig files; fails if none is set.`,
		Example: `  kubepki config current-context`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			cfg, err := flags.access().GetStartingConfig()
			if err != nil {
				return err
			}
			if cfg.CurrentContext == "" {
				return errors.New("current-context is not set")
			}
			_, err = fmt.Fprintf(streams.Out, "%s\n", cfg.CurrentContext)
			return err
		},
	}
}

func newConfigUseContextCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "use-context CONTEXT_NAME",
		Aliases: []string{"use"},
		Short:   "Set the current-context in a kubeconfig file",
		Long: `Set current-context. The change goes to --kubeconfig, else to the first
existing file of $KUBECONFIG (the last one if none exists), else to
~/.kube/config.`,
		Example: `  kubepki config use-context kubernetes-admin@kubernetes`,
		Args:    exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			name := args[0]
			access := flags.access()
			cfg, err := access.GetStartingConfig()
			if err != nil {
				return err
			}
			if name == "" {
				return errors.New("empty context names are not allowed")
			}
			if _, ok := cfg.Contexts[name]; !ok {
				return fmt.Errorf("no context exists with the name: %q", name)
			}
			cfg.CurrentContext = name
			if err := modifyConfig(streams.ErrOut, access, cfg); err != nil {
				return err
			}
			_, err = fmt.Fprintf(streams.Out, "Switched to context %q.\n", name)
			return err
		},
	}
}

// usageArgs wraps an argument check so that its error is a usage error
// (exit status 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &UsageError{Err: err}
		}
		return nil
	}
}

// exactArgs is cobra.ExactArgs returning a usage error.
func exactArgs(n int) cobra.PositionalArgs { return usageArgs(cobra.ExactArgs(n)) }

// maxArgs is cobra.MaximumNArgs returning a usage error.
func maxArgs(n int) cobra.PositionalArgs { return usageArgs(cobra.MaximumNArgs(n)) }

func newConfigGetContextsCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	var output string
	var noHeaders bool
	cmd := &cobra.Command{
		Use:   "get-contexts [(-o|--output=)name]",
		Short: "Describe one or many contexts",
		Long:  `List the contexts of the loaded kubeconfig files, sorted by name, "*" marking the current one.`,
		Example: `  kubepki config get-contexts
  kubepki config get-contexts -o name`,
		Args: cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if output != "" && output != "name" {
				return &UsageError{Err: fmt.Errorf("output must be one of '' or 'name': %v", output)}
			}
			cfg, err := flags.access().GetStartingConfig()
			if err != nil {
				return err
			}
			nameOnly := output == "name"
			var errs []error
			var names []string
			if len(args) == 0 {
				for name := range cfg.Contexts {
					names = append(names, name)
				}
			} else {
				for _, name := range args {
					if _, ok := cfg.Contexts[name]; ok {
						names = append(names, name)
					} else {
						errs = append(errs, fmt.Errorf("context %v not found", name))
					}
				}
			}
			sort.Strings(names)
			w := newTable(streams.Out)
			if !noHeaders && !nameOnly {
				fmt.Fprintln(w, "CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE")
			}
			for _, name := range names {
				if nameOnly {
					fmt.Fprintf(w, "%s\n", name)
					continue
				}
				mark := " "
				if name == cfg.CurrentContext {
					mark = "*"
				}
				c := cfg.Contexts[name]
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", mark, name, c.Cluster, c.AuthInfo, c.Namespace)
			}
			if err := w.Flush(); err != nil {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: name")
	cmd.Flags().BoolVar(&noHeaders, "no-headers", false, "do not print headers")
	return cmd
}

func newConfigGetClustersCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "get-clusters",
		Short:   "Display clusters defined in the kubeconfig",
		Long:    `List the cluster names of the loaded kubeconfig files, sorted.`,
		Example: `  kubepki config get-clusters`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			cfg, err := flags.access().GetStartingConfig()
			if err != nil {
				return err
			}
			return printNames(streams.Out, cfg.Clusters)
		},
	}
}

func newConfigGetUsersCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "get-users",
		Short:   "Display users defined in the kubeconfig",
		Long:    `List the user names of the loaded kubeconfig files, sorted.`,
		Example: `  kubepki config get-users`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			cfg, err := flags.access().GetStartingConfig()
			if err != nil {
				return err
			}
			return printNames(streams.Out, cfg.AuthInfos)
		},
	}
}

// printNames prints a NAME header and the sorted keys of m.
func printNames[V any](out io.Writer, m map[string]V) error {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	_, err := fmt.Fprintf(out, "NAME\n%s", joinLines(names))
	return err
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

func newConfigSetClusterCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	var server, tlsServerName, ca, proxyURL string
	var insecure, embed bool
	cmd := &cobra.Command{
		Use:   "set-cluster NAME [--server=server] [--certificate-authority=path/to/ca.crt] [--insecure-skip-tls-verify=true] [--tls-server-name=example.com]",
		Short: "Set a cluster entry in kubeconfig",
		Long: `Set a cluster entry in kubeconfig. Specifying a name that already exists merges
the given fields on top of the existing values. --certificate-authority is
stored as an absolute path, or embedded with --embed-certs.`,
		Example: `  kubepki config set-cluster e2e --server=https://1.2.3.4:6443
  kubepki config set-cluster e2e --embed-certs --certificate-authority=pki/ca.crt`,
		DisableFlagsInUseLine: true,
		Args:                  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			f := cmd.Flags()
			if name == "" {
				return errors.New("you must specify a non-empty cluster name")
			}
			if insecure && ca != "" {
				return errors.New("you cannot specify a certificate authority and insecure mode at the same time")
			}
			if embed {
				if ca == "" {
					return fmt.Errorf("you must specify a --%s to embed", clientcmd.FlagCAFile)
				}
				if _, err := os.Stat(ca); err != nil {
					return fmt.Errorf("could not stat %s file %s: %v", clientcmd.FlagCAFile, ca, err)
				}
			}
			access := flags.access()
			cfg, err := access.GetStartingConfig()
			if err != nil {
				return err
			}
			c, ok := cfg.Clusters[name]
			if !ok {
				c = clientcmdapi.NewCluster()
			}
			m := *c
			if f.Changed(clientcmd.FlagAPIServer) {
				m.Server = server
				m.TLSServerName = ""
			}
			if f.Changed(clientcmd.FlagTLSServerName) {
				m.TLSServerName = tlsServerName
			}
			if f.Changed(clientcmd.FlagInsecure) {
				m.InsecureSkipTLSVerify = insecure
				if insecure {
					m.CertificateAuthority = ""
					m.CertificateAuthorityData = nil
				}
			}
			if f.Changed(clientcmd.FlagCAFile) {
				if embed {
					data, err := pki.ReadFile(ca)
					if err != nil {
						return fmt.Errorf("read %s file %s: %w", clientcmd.FlagCAFile, ca, err)
					}
					m.CertificateAuthorityData = data
					m.InsecureSkipTLSVerify = false
					m.CertificateAuthority = ""
				} else {
					abs, err := filepath.Abs(ca)
					if err != nil {
						return fmt.Errorf("resolve %s %s: %w", clientcmd.FlagCAFile, ca, err)
					}
					m.CertificateAuthority = abs
					if abs != "" {
						m.InsecureSkipTLSVerify = false
						m.CertificateAuthorityData = nil
					}
				}
			}
			if f.Changed(clientcmd.FlagProxyURL) {
				m.ProxyURL = proxyURL
			}
			cfg.Clusters[name] = &m
			if err := modifyConfig(streams.ErrOut, access, cfg); err != nil {
				return err
			}
			_, err = fmt.Fprintf(streams.Out, "Cluster %q set.\n", name)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, clientcmd.FlagAPIServer, "", "server for the cluster entry in kubeconfig")
	f.StringVar(&tlsServerName, clientcmd.FlagTLSServerName, "", "tls-server-name for the cluster entry in kubeconfig")
	f.BoolVar(&insecure, clientcmd.FlagInsecure, false, "insecure-skip-tls-verify for the cluster entry in kubeconfig")
	f.StringVar(&ca, clientcmd.FlagCAFile, "", "path to the certificate-authority file for the cluster entry in kubeconfig")
	f.BoolVar(&embed, clientcmd.FlagEmbedCerts, false, "embed the certificate authority file's content instead of its path")
	f.StringVar(&proxyURL, clientcmd.FlagProxyURL, "", "proxy-url for the cluster entry in kubeconfig")
	return cmd
}

func newConfigSetCredentialsCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	var certFile, keyFile, execCommand, execAPIVersion string
	var execArgs, execEnv []string
	var embed bool
	cmd := &cobra.Command{
		Use:   "set-credentials NAME [--client-certificate=path/to/cert] [--client-key=path/to/key] [--embed-certs=true] [--exec-command=cmd] [--exec-api-version=v] [--exec-arg=arg] [--exec-env=key=value]",
		Short: "Set a user entry in kubeconfig",
		Long: `Set a user entry in kubeconfig with a client certificate and key. Specifying a
name that already exists merges the given fields on top of the existing values.
Paths are stored absolute, or the files' content is embedded with --embed-certs.
--exec-* set an exec credential plugin. Tokens and passwords are not taken on the command line (they would show in the
process list); set them with kubectl or an editor.`,
		Example: `  kubepki config set-credentials jane --client-certificate=jane.crt --client-key=jane.key
  kubepki config set-credentials jane --client-certificate=jane.crt --client-key=jane.key --embed-certs`,
		DisableFlagsInUseLine: true,
		Args:                  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			f := cmd.Flags()
			if name == "" {
				return errors.New("you must specify a non-empty user name")
			}
			if embed {
				if certFile == "" && keyFile == "" {
					return fmt.Errorf("you must specify a --%s or --%s to embed", clientcmd.FlagCertFile, clientcmd.FlagKeyFile)
				}
				for _, fp := range [][2]string{{clientcmd.FlagCertFile, certFile}, {clientcmd.FlagKeyFile, keyFile}} {
					if fp[1] == "" {
						continue
					}
					if _, err := os.Stat(fp[1]); err != nil {
						return fmt.Errorf("could not stat %s file %s: %v", fp[0], fp[1], err)
					}
				}
			}
			envSet, envRemove, err := parseExecEnv(execEnv)
			if err != nil {
				return &UsageError{Err: err}
			}
			access := flags.access()
			cfg, err := access.GetStartingConfig()
			if err != nil {
				return err
			}
			u, ok := cfg.AuthInfos[name]
			if !ok {
				u = clientcmdapi.NewAuthInfo()
			}
			m := *u
			set := func(flag, path string, file *string, data *[]byte) error {
				if !f.Changed(flag) {
					return nil
				}
				if embed {
					b, err := pki.ReadFile(path)
					if err != nil {
						return fmt.Errorf("read %s file %s: %w", flag, path, err)
					}
					*data, *file = b, ""
					return nil
				}
				abs, err := filepath.Abs(path)
				if err != nil {
					return fmt.Errorf("resolve %s %s: %w", flag, path, err)
				}
				*file = abs
				if abs != "" {
					*data = nil
				}
				return nil
			}
			if err := set(clientcmd.FlagCertFile, certFile, &m.ClientCertificate, &m.ClientCertificateData); err != nil {
				return err
			}
			if err := set(clientcmd.FlagKeyFile, keyFile, &m.ClientKey, &m.ClientKeyData); err != nil {
				return err
			}
			if f.Changed(flagExecCommand) {
				if m.Exec == nil {
					m.Exec = &clientcmdapi.ExecConfig{Command: execCommand}
				} else {
					m.Exec = m.Exec.DeepCopy()
					m.Exec.Command = execCommand
					m.Exec.Args = nil
				}
			}
			// The other exec flags change an existing exec entry only.
			if m.Exec != nil {
				m.Exec = m.Exec.DeepCopy()
				if f.Changed(flagExecAPIVersion) {
					m.Exec.APIVersion = execAPIVersion
				}
				if len(execArgs) > 0 {
					m.Exec.Args = execArgs
				}
				m.Exec.Env = applyExecEnv(m.Exec.Env, envSet, envRemove)
			}
			cfg.AuthInfos[name] = &m
			if err := modifyConfig(streams.ErrOut, access, cfg); err != nil {
				return err
			}
			_, err = fmt.Fprintf(streams.Out, "User %q set.\n", name)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&certFile, clientcmd.FlagCertFile, "", "path to the client-certificate file for the user entry in kubeconfig")
	f.StringVar(&keyFile, clientcmd.FlagKeyFile, "", "path to the client-key file for the user entry in kubeconfig")
	f.BoolVar(&embed, clientcmd.FlagEmbedCerts, false, "embed the client certificate and key instead of their paths")
	f.StringVar(&execCommand, flagExecCommand, "", "command of the exec credential plugin for the user entry in kubeconfig")
	f.StringVar(&execAPIVersion, flagExecAPIVersion, "", "API version of the exec credential plugin for the user entry in kubeconfig")
	f.StringSliceVar(&execArgs, flagExecArg, nil, "new arguments for the exec credential plugin command (replace the old ones)")
	f.StringArrayVar(&execEnv, flagExecEnv, nil, "'key=value' environment value for the exec credential plugin, or 'key-' to remove one")
	return cmd
}

// Flags of set-credentials for exec credential plugins, as kubectl's.
const (
	flagExecCommand    = "exec-command"
	flagExecAPIVersion = "exec-api-version"
	flagExecArg        = "exec-arg"
	flagExecEnv        = "exec-env"
)

// parseExecEnv splits --exec-env values into "key=value" pairs to set
// (in order) and "key-" names to remove.
func parseExecEnv(specs []string) (set []clientcmdapi.ExecEnvVar, remove []string, err error) {
	for _, spec := range specs {
		if k, v, ok := strings.Cut(spec, "="); ok {
			if k == "" {
				return nil, nil, fmt.Errorf("invalid --%s %q: the key must not be empty", flagExecEnv, spec)
			}
			set = append(set, clientcmdapi.ExecEnvVar{Name: k, Value: v})
			continue
		}
		if k, ok := strings.CutSuffix(spec, "-"); ok && k != "" {
			remove = append(remove, k)
			continue
		}
		return nil, nil, fmt.Errorf("invalid --%s %q: want key=value or key-", flagExecEnv, spec)
	}
	return set, remove, nil
}

// applyExecEnv removes the names in remove from env, then updates or
// appends each of set, as kubectl does.
func applyExecEnv(env, set []clientcmdapi.ExecEnvVar, remove []string) []clientcmdapi.ExecEnvVar {
	if len(remove) > 0 {
		kept := []clientcmdapi.ExecEnvVar{}
		for _, e := range env {
			if !slices.Contains(remove, e.Name) {
				kept = append(kept, e)
			}
		}
		env = kept
	}
	for _, s := range set {
		i := slices.IndexFunc(env, func(e clientcmdapi.ExecEnvVar) bool { return e.Name == s.Name })
		if i >= 0 {
			env[i].Value = s.Value
		} else {
			env = append(env, s)
		}
	}
	return env
}

func newConfigSetContextCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	var cluster, user, namespace string
	var current bool
	cmd := &cobra.Command{
		Use:   "set-context [NAME | --current] [--cluster=cluster_nickname] [--user=user_nickname] [--namespace=namespace]",
		Short: "Set a context entry in kubeconfig",
		Long: `Set a context entry in kubeconfig. Specifying a name that already exists merges
the given fields on top of the existing values.`,
		Example: `  kubepki config set-context jane@kubernetes --cluster=kubernetes --user=jane
  kubepki config set-context --current --namespace=dev`,
		DisableFlagsInUseLine: true,
		Args:                  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			if name == "" && !current {
				return errors.New("you must specify a non-empty context name or --current")
			}
			if name != "" && current {
				return errors.New("you cannot specify both a context name and --current")
			}
			access := flags.access()
			cfg, err := access.GetStartingConfig()
			if err != nil {
				return err
			}
			if current {
				if cfg.CurrentContext == "" {
					return errors.New("no current context is set")
				}
				name = cfg.CurrentContext
			}
			c, exists := cfg.Contexts[name]
			if !exists {
				c = clientcmdapi.NewContext()
			}
			m := *c
			f := cmd.Flags()
			if f.Changed(clientcmd.FlagClusterName) {
				m.Cluster = cluster
			}
			if f.Changed(clientcmd.FlagAuthInfoName) {
				m.AuthInfo = user
			}
			if f.Changed(clientcmd.FlagNamespace) {
				m.Namespace = namespace
			}
			cfg.Contexts[name] = &m
			if err := modifyConfig(streams.ErrOut, access, cfg); err != nil {
				return err
			}
			verb := "created"
			if exists {
				verb = "modified"
			}
			_, err = fmt.Fprintf(streams.Out, "Context %q %s.\n", name, verb)
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&current, "current", false, "modify the current context")
	f.StringVar(&cluster, clientcmd.FlagClusterName, "", "cluster for the context entry in kubeconfig")
	f.StringVar(&user, clientcmd.FlagAuthInfoName, "", "user for the context entry in kubeconfig")
	f.StringVar(&namespace, clientcmd.FlagNamespace, "", "namespace for the context entry in kubeconfig")
	return cmd
}

func newConfigDeleteContextCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete-context NAME",
		Short: "Delete the specified context from the kubeconfig",
		Long: `Delete a context from the file it came from. Deleting the current context
leaves current-context pointing at nothing and warns.`,
		Example: `  kubepki config delete-context jane@kubernetes`,
		Args:    exactArgs(1),
		RunE: deleteEntry(streams, flags, "context", func(c *clientcmdapi.Config) map[string]*clientcmdapi.Context { return c.Contexts },
			func(cfg *clientcmdapi.Config, name string) {
				if cfg.CurrentContext == name {
					fmt.Fprint(streams.ErrOut, "warning: this removed your active context, use \"kubepki config use-context\" to select a different one\n")
				}
			}),
	}
}

func newConfigDeleteClusterCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete-cluster NAME",
		Short:   "Delete the specified cluster from the kubeconfig",
		Long:    `Delete a cluster entry from the file it came from. Contexts naming it are kept.`,
		Example: `  kubepki config delete-cluster e2e`,
		Args:    exactArgs(1),
		RunE:    deleteEntry(streams, flags, "cluster", func(c *clientcmdapi.Config) map[string]*clientcmdapi.Cluster { return c.Clusters }, nil),
	}
}

func newConfigDeleteUserCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete-user NAME",
		Short:   "Delete the specified user from the kubeconfig",
		Long:    `Delete a user entry from the file it came from. Contexts naming it are kept.`,
		Example: `  kubepki config delete-user jane`,
		Args:    exactArgs(1),
		RunE:    deleteEntry(streams, flags, "user", func(c *clientcmdapi.Config) map[string]*clientcmdapi.AuthInfo { return c.AuthInfos }, nil),
	}
}

// deleteEntry is the body of delete-context, delete-cluster and
// delete-user: remove the named entry of kind from the map entries picks,
// in the file it came from, with kubectl's messages; before, if set, runs
// first (delete-context's warning).
func deleteEntry[V any](streams IOStreams, flags *configFlags, kind string, entries func(*clientcmdapi.Config) map[string]V,
	before func(cfg *clientcmdapi.Config, name string)) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, args []string) error {
		name := args[0]
		access := flags.access()
		cfg, err := access.GetStartingConfig()
		if err != nil {
			return err
		}
		file := configFile(access)
		m := entries(cfg)
		if _, ok := m[name]; !ok {
			return fmt.Errorf("cannot delete %s %s, not in %s", kind, name, file)
		}
		if before != nil {
			before(cfg, name)
		}
		delete(m, name)
		if err := modifyConfig(streams.ErrOut, access, cfg); err != nil {
			return err
		}
		_, err = fmt.Fprintf(streams.Out, "deleted %s %s from %s\n", kind, name, file)
		return err
	}
}

func newConfigRenameContextCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "rename-context CONTEXT_NAME NEW_NAME",
		Short:   "Rename a context from the kubeconfig file",
		Long:    `Rename a context; current-context follows if it named the old one.`,
		Example: `  kubepki config rename-context old-name new-name`,
		Args:    exactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			oldName, newName := args[0], args[1]
			if newName == "" {
				return errors.New("You must specify a new non-empty context name")
			}
			access := flags.access()
			cfg, err := access.GetStartingConfig()
			if err != nil {
				return err
			}
			file := configFile(access)
			c, ok := cfg.Contexts[oldName]
			if !ok {
				return fmt.Errorf("cannot rename the context %q, it's not in %s", oldName, file)
			}
			if _, ok := cfg.Contexts[newName]; ok {
				return fmt.Errorf("cannot rename the context %q, the context %q already exists in %s", oldName, newName, file)
			}
			cfg.Contexts[newName] = c
			delete(cfg.Contexts, oldName)
			if cfg.CurrentContext == oldName {
				cfg.CurrentContext = newName
			}
			if err := modifyConfig(streams.ErrOut, access, cfg); err != nil {
				return err
			}
			_, err = fmt.Fprintf(streams.Out, "Context %q renamed to %q.\n", oldName, newName)
			return err
		},
	}
}

// configCheckReport is what "config check -o json|yaml" prints; a
// versioned type: fields are added, never renamed.
type configCheckReport struct {
	APIVersion string                     `json:"apiVersion"`
	Kind       string                     `json:"kind"`
	Contexts   []kubeconfig.ContextReport `json:"contexts"`
}

func newConfigCheckCommand(streams IOStreams, flags *configFlags) *cobra.Command {
	var context, output string
	var connect bool
	var timeout, warn time.Duration
	cmd := &cobra.Command{
		Use:   "check [--context NAME] [--connect]",
		Short: "Check every context's credentials and server",
		Long: `Check each context of the loaded kubeconfig files (or only --context): its
cluster and user exist, the CA and the client certificate and key files exist
and parse, the key matches the certificate, the certificate chains to the
cluster's CA for client auth, and how long it remains valid (a warning within
--expiry-warning). A cluster or user that names a file and also carries inline
data for the same CA, certificate or key fails, since kubectl refuses to use
it. With --connect, also a TLS handshake with the server: its
certificate must chain to the cluster CA and name the server's host (or
tls-server-name), and GET /version must succeed with the context's credentials.

Exits 1 if any check fails; warnings do not fail.`,
		Example: `  kubepki config check
  kubepki config check --kubeconfig /etc/kubernetes/admin.conf --connect
  kubepki config check --context jane@kubernetes -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" {
				if err := checkOutputFormat(output, "json", "yaml"); err != nil {
					return err
				}
			}
			cfg, err := kubeconfig.LoadingRules(flags.kubeconfig).Load()
			if err != nil {
				return fmt.Errorf("load kubeconfig: %w", err)
			}
			reports, err := kubeconfig.Check(cmd.Context(), cfg, kubeconfig.CheckOptions{
				Context: context, Connect: connect, Timeout: timeout, ExpiryWarning: warn,
			})
			if err != nil {
				return err
			}
			if output != "" {
				if err := printFormatted(streams.Out, output, configCheckReport{APIVersion: "kubepki.io/v1alpha1", Kind: "KubeconfigCheck", Contexts: reports}); err != nil {
					return err
				}
			} else {
				printCheckReports(streams.Out, reports)
			}
			var failed []string
			for i := range reports {
				if reports[i].Failed() {
					failed = append(failed, reports[i].Context)
				}
			}
			if len(failed) > 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("%d of %d contexts failed their checks: %s", len(failed), len(reports), strings.Join(failed, ", "))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&context, "context", "", "check only this context")
	f.BoolVar(&connect, "connect", false, "also connect to each server: TLS handshake and GET /version")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "bound of each connection with --connect")
	f.DurationVar(&warn, "expiry-warning", kubeconfig.DefaultExpiryWarning, "warn when a certificate expires sooner than this")
	f.StringVarP(&output, "output", "o", "", "output format: json, yaml or jsonpath=TEMPLATE (default: text)")
	return cmd
}

// printCheckReports prints reports as text, one block per context.
func printCheckReports(out io.Writer, reports []kubeconfig.ContextReport) {
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "context %s (cluster %s, user %s", r.Context, r.Cluster, r.User)
		if r.Server != "" {
			fmt.Fprintf(out, ", server %s", r.Server)
		}
		fmt.Fprintln(out, ")")
		w := newTable(out)
		for _, res := range r.Results {
			fmt.Fprintf(w, "  %s\t%s\t%s\n", res.Status, res.Check, res.Message)
		}
		w.Flush()
	}
}

func newConfigMergeCommand(streams IOStreams) *cobra.Command {
	var output, prefer string
	var force, flatten bool
	cmd := &cobra.Command{
		Use:   "merge FILE... -o OUTPUT",
		Short: "Merge kubeconfig files into one",
		Long: `Merge the clusters, users and contexts of several kubeconfig files into one
file (written 0600). Relative paths become absolute, or the referenced files are
embedded with --flatten. A name defined identically in several files is kept
once; a name defined differently is a conflict: all conflicts are reported and
nothing is written, unless --prefer first (kubectl's rule) or --prefer last says
which to keep, in which case each conflict is still reported on stderr.
current-context is the first file's that has one.`,
		Example: `  kubepki config merge ~/.kube/config jane.conf -o merged.conf
  kubepki config merge a.conf b.conf --prefer last --flatten -o all.conf`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(_ *cobra.Command, files []string) error {
			if output == "" {
				return &UsageError{Err: errors.New("-o OUTPUT is required")}
			}
			p, err := kubeconfig.ParsePrefer(prefer)
			if err != nil {
				return &UsageError{Err: fmt.Errorf("--prefer: %w", err)}
			}
			if !force {
				if _, err := os.Lstat(output); err == nil {
					return fmt.Errorf("%s already exists; choose another -o or pass --force to replace it", output)
				}
			}
			cfg, conflicts, err := kubeconfig.Merge(files, p)
			if err != nil {
				return err
			}
			for _, c := range conflicts {
				fmt.Fprintf(streams.ErrOut, "warning: %s\n", c)
			}
			if flatten {
				if err := clientcmdapi.FlattenConfig(cfg); err != nil {
					return fmt.Errorf("flatten: %w", err)
				}
			}
			if err := kubeconfig.Write(output, cfg); err != nil {
				return err
			}
			_, err = fmt.Fprintf(streams.Out, "merged %d files into %s (%d clusters, %d users, %d contexts)\n",
				len(files), output, len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "", "file to write (required)")
	f.StringVar(&prefer, "prefer", "", "on conflicts keep the first or the last file's entry (default: fail)")
	f.BoolVar(&force, "force", false, "replace OUTPUT if it exists")
	f.BoolVar(&flatten, "flatten", false, "embed referenced certificate and key files")
	return cmd
}
