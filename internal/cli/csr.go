package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	certclient "k8s.io/client-go/kubernetes/typed/certificates/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"
)

// The CertificateSigningRequest resource as kubectl names it.
const (
	csrResource   = "certificatesigningrequest.certificates.k8s.io"
	csrsResource  = "certificatesigningrequests.certificates.k8s.io"
	csrAPIVersion = "certificates.k8s.io/v1"
	csrKind       = "CertificateSigningRequest"
	// maxManifestSize bounds what "csr create -f" reads.
	maxManifestSize = 4 << 20
)

// newCSRCommand builds the "csr" group: the Certificates API from the
// client side, as kubectl get/create/delete csr and kubectl certificate
// approve/deny.
func newCSRCommand(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "csr SUBCOMMAND",
		Short: "Work with CertificateSigningRequests on an API server",
		Long: `List, inspect, create, approve, deny and delete certificates.k8s.io/v1
CertificateSigningRequests on any Kubernetes API server, with kubectl's output.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			return &UsageError{Err: errors.New(`"csr" needs a subcommand; see "kubepki csr --help"`)}
		},
	}
	cmd.AddCommand(
		newCSRListCommand(streams),
		newCSRGetCommand(streams),
		newCSRApproveCommand(streams, true),
		newCSRApproveCommand(streams, false),
		newCSRDeleteCommand(streams),
		newCSRCreateCommand(streams),
		newCSRNewCommand(streams),
	)
	return cmd
}

// csrPrintOptions are the output flags of list and get.
type csrPrintOptions struct {
	output    string
	noHeaders bool
}

func (p *csrPrintOptions) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&p.output, "output", "o", "", "output format: json, yaml, name, wide or jsonpath=TEMPLATE (default: a table)")
	cmd.Flags().BoolVar(&p.noHeaders, "no-headers", false, "do not print the table header")
}

func (p *csrPrintOptions) validate() error {
	if p.output == "" || p.output == "wide" || p.output == "name" {
		return nil
	}
	return checkOutputFormat(p.output, "json", "yaml")
}

// csrList is what -o json|yaml prints for several objects: kubectl's
// generic v1 List.
type csrList struct {
	APIVersion string                             `json:"apiVersion"`
	Items      []certv1.CertificateSigningRequest `json:"items"`
	Kind       string                             `json:"kind"`
	Metadata   map[string]string                  `json:"metadata"`
}

// print writes csrs in the chosen format; single is true when one object
// was asked for by name (printed bare, not in a List).
func (p *csrPrintOptions) print(out io.Writer, csrs []certv1.CertificateSigningRequest, single bool, now time.Time) error {
	for i := range csrs {
		csrs[i].TypeMeta = metav1.TypeMeta{Kind: csrKind, APIVersion: csrAPIVersion}
	}
	switch {
	case p.output == "name":
		for _, c := range csrs {
			fmt.Fprintf(out, "%s/%s\n", csrResource, c.Name)
		}
		return nil
	case p.output == "" || p.output == "wide":
		return printCSRTable(out, csrs, !p.noHeaders, now)
	case single && len(csrs) == 1:
		return printSorted(out, p.output, &csrs[0])
	default:
		items := csrs
		if items == nil {
			items = []certv1.CertificateSigningRequest{}
		}
		return printSorted(out, p.output, csrList{APIVersion: "v1", Items: items, Kind: "List", Metadata: map[string]string{"resourceVersion": ""}})
	}
}

// printSorted prints obj with its keys sorted, as kubectl prints objects
// it read from a server (it holds them as unstructured maps).
func printSorted(out io.Writer, format string, obj any) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	return printFormatted(out, format, v)
}

// printCSRTable prints kubectl's CSR columns (kubectl-wire §8.3), computed
// on the client so that the output is the same with any server.
func printCSRTable(out io.Writer, csrs []certv1.CertificateSigningRequest, headers bool, now time.Time) error {
	w := newTable(out)
	if headers {
		fmt.Fprintln(w, "NAME\tAGE\tSIGNERNAME\tREQUESTOR\tREQUESTEDDURATION\tCONDITION")
	}
	for i := range csrs {
		c := &csrs[i]
		age := "<unknown>"
		if !c.CreationTimestamp.IsZero() {
			age = duration.HumanDuration(now.Sub(c.CreationTimestamp.Time))
		}
		signer := c.Spec.SignerName
		if signer == "" {
			signer = "<none>"
		}
		requested := "<none>"
		if c.Spec.ExpirationSeconds != nil {
			requested = duration.HumanDuration(time.Duration(*c.Spec.ExpirationSeconds) * time.Second)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, age, signer, c.Spec.Username, requested, csrCondition(c))
	}
	return w.Flush()
}

// csrCondition derives kubectl's CONDITION column: Denied, else Approved,
// else Pending; then ",Failed" and ",Issued". Only condition types count.
func csrCondition(c *certv1.CertificateSigningRequest) string {
	s := "Pending"
	if hasCondition(c, certv1.CertificateDenied) {
		s = "Denied"
	} else if hasCondition(c, certv1.CertificateApproved) {
		s = "Approved"
	}
	if hasCondition(c, certv1.CertificateFailed) {
		s += ",Failed"
	}
	if len(c.Status.Certificate) > 0 {
		s += ",Issued"
	}
	return s
}

func newCSRListCommand(streams IOStreams) *cobra.Command {
	var cf clientFlags
	var p csrPrintOptions
	var selector string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List CertificateSigningRequests",
		Long:    `List CertificateSigningRequests with kubectl's columns, or as json, yaml, names or a jsonpath.`,
		Example: `  kubepki csr list
  kubepki csr list -o jsonpath='{.items[*].metadata.name}'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := p.validate(); err != nil {
				return err
			}
			client, err := cf.csrClient()
			if err != nil {
				return err
			}
			list, err := client.List(cmd.Context(), metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return apiError(err)
			}
			if len(list.Items) == 0 && (p.output == "" || p.output == "wide") {
				fmt.Fprintln(streams.ErrOut, "No resources found")
				return nil
			}
			return p.print(streams.Out, list.Items, false, time.Now())
		},
	}
	cf.add(cmd)
	p.add(cmd)
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector, as kubectl's -l")
	return cmd
}

func newCSRGetCommand(streams IOStreams) *cobra.Command {
	var cf clientFlags
	var p csrPrintOptions
	cmd := &cobra.Command{
		Use:   "get NAME...",
		Short: "Show CertificateSigningRequests by name",
		Long: `Show the named CertificateSigningRequests. Missing names are reported and the
command fails after printing the others.`,
		Example: `  kubepki csr get csr-abc
  kubepki csr get csr-abc -o jsonpath='{.status.certificate}' | base64 -d`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := p.validate(); err != nil {
				return err
			}
			client, err := cf.csrClient()
			if err != nil {
				return err
			}
			var found []certv1.CertificateSigningRequest
			var errs []error
			for _, name := range args {
				c, err := client.Get(cmd.Context(), name, metav1.GetOptions{})
				if err != nil {
					errs = append(errs, apiError(err))
					continue
				}
				found = append(found, *c)
			}
			if len(found) > 0 {
				if err := p.print(streams.Out, found, len(args) == 1, time.Now()); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	cf.add(cmd)
	p.add(cmd)
	return cmd
}

// csrDecision is an approve or deny, as kubectl certificate approve/deny.
type csrDecision struct {
	approve    bool
	force      bool
	allPending bool
	// output is -o: "" (kubectl's "NAME approved" lines), name, json,
	// yaml or jsonpath=TEMPLATE, as "kubectl certificate approve -o".
	output string
	cf     clientFlags
}

func (d *csrDecision) condition() (certv1.RequestConditionType, certv1.RequestConditionType, string, string, string) {
	if d.approve {
		return certv1.CertificateApproved, certv1.CertificateDenied, "KubepkiApprove", "This CSR was approved by kubepki csr approve.", "approved"
	}
	return certv1.CertificateDenied, certv1.CertificateApproved, "KubepkiDeny", "This CSR was denied by kubepki csr deny.", "denied"
}

func newCSRApproveCommand(streams IOStreams, approve bool) *cobra.Command {
	d := &csrDecision{approve: approve}
	verb, what := "approve", "Approve"
	notice := `SECURITY NOTICE: approving lets the signer issue a certificate with the
request's subject and names. Check REQUESTOR, the subject and the SANs first
(kubepki inspect on the decoded request); never approve with --all-pending on a
cluster where others can create requests.`
	if !approve {
		verb, what = "deny", "Deny"
		notice = `A denied request is never signed; the condition cannot be removed.`
	}
	cmd := &cobra.Command{
		Use:   verb + " (NAME... | --all-pending)",
		Short: what + " CertificateSigningRequests",
		Long: what + ` CertificateSigningRequests, as "kubectl certificate ` + verb + `": an ` + map[bool]string{true: "Approved", false: "Denied"}[approve] + `
condition is added through the approval subresource (retried on conflicts).
A request that already has it is left alone (--force sends it again); one with
the opposite decision is an error. Several names may be given; with
--all-pending every request without a decision is ` + map[bool]string{true: "approved", false: "denied"}[approve] + `.

` + notice,
		Example: "  kubepki csr " + verb + " csr-abc csr-def\n  kubepki csr " + verb + " --all-pending",
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !d.allPending {
				return &UsageError{Err: fmt.Errorf("name one or more CertificateSigningRequests or pass --all-pending")}
			}
			if len(args) > 0 && d.allPending {
				return &UsageError{Err: fmt.Errorf("names and --all-pending are mutually exclusive")}
			}
			if d.output != "" && d.output != "name" {
				if err := checkOutputFormat(d.output, "name", "json", "yaml"); err != nil {
					return err
				}
			}
			return d.run(cmd.Context(), streams, args)
		},
	}
	d.cf.add(cmd)
	cmd.Flags().BoolVar(&d.force, "force", false, "update the request even if it already has the condition")
	cmd.Flags().BoolVar(&d.allPending, "all-pending", false, verb+" every request that is neither approved nor denied")
	cmd.Flags().StringVarP(&d.output, "output", "o", "", "output format: name, json, yaml or jsonpath=TEMPLATE (default: \"NAME "+map[bool]string{true: "approved", false: "denied"}[approve]+"\")")
	return cmd
}

func (d *csrDecision) run(ctx context.Context, streams IOStreams, names []string) error {
	client, err := d.cf.csrClient()
	if err != nil {
		return err
	}
	if d.allPending {
		list, err := client.List(ctx, metav1.ListOptions{})
		if err != nil {
			return apiError(err)
		}
		for i := range list.Items {
			c := &list.Items[i]
			if !hasCondition(c, certv1.CertificateApproved) && !hasCondition(c, certv1.CertificateDenied) {
				names = append(names, c.Name)
			}
		}
		if len(names) == 0 {
			fmt.Fprintln(streams.ErrOut, "No pending CertificateSigningRequests found")
			return nil
		}
	}
	var errs []error
	for _, name := range names {
		c, err := d.decide(ctx, client, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := d.print(streams.Out, c); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// print writes the outcome for one request as kubectl certificate
// approve/deny does: "RESOURCE/NAME approved" by default, only
// "RESOURCE/NAME" with -o name (kubectl's name printer drops the verb
// there), else the request as it is now.
func (d *csrDecision) print(out io.Writer, c *certv1.CertificateSigningRequest) error {
	_, _, _, _, past := d.condition()
	switch d.output {
	case "":
		_, err := fmt.Fprintf(out, "%s/%s %s\n", csrResource, c.Name, past)
		return err
	case "name":
		_, err := fmt.Fprintf(out, "%s/%s\n", csrResource, c.Name)
		return err
	}
	c.TypeMeta = metav1.TypeMeta{Kind: csrKind, APIVersion: csrAPIVersion}
	return printSorted(out, d.output, c)
}

// decide adds the decision to one request, re-reading it on conflicts.
// A request that already has the decision is left alone, or with --force
// sent again unchanged through the approval subresource; one with the
// opposite decision is an error. Both as "kubectl certificate approve".
// It returns the request as the server last answered it.
func (d *csrDecision) decide(ctx context.Context, client certclient.CertificateSigningRequestInterface, name string) (*certv1.CertificateSigningRequest, error) {
	want, opposite, reason, message, _ := d.condition()
	var result *certv1.CertificateSigningRequest
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		result = c
		if hasCondition(c, opposite) {
			return fmt.Errorf("certificate signing request %q is already %s", name, opposite)
		}
		if hasCondition(c, want) {
			if !d.force {
				return nil
			}
			// --force sends the object again unchanged, as kubectl's
			// modifyCertificateCondition does: a second condition of the
			// same type is invalid (422 Duplicate value).
		} else {
			c.Status.Conditions = append(c.Status.Conditions, certv1.CertificateSigningRequestCondition{
				Type:           want,
				Status:         "True",
				Reason:         reason,
				Message:        message,
				LastUpdateTime: metav1.Now(),
			})
		}
		updated, err := client.UpdateApproval(ctx, name, c, metav1.UpdateOptions{})
		if err == nil {
			result = updated
		}
		return err
	})
	if err != nil {
		return nil, apiError(err)
	}
	return result, nil
}

func newCSRDeleteCommand(streams IOStreams) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:     "delete NAME...",
		Short:   "Delete CertificateSigningRequests",
		Long:    `Delete the named CertificateSigningRequests; an issued certificate stays valid.`,
		Example: `  kubepki csr delete csr-abc`,
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := cf.csrClient()
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				if err := client.Delete(cmd.Context(), name, metav1.DeleteOptions{}); err != nil {
					errs = append(errs, apiError(err))
					continue
				}
				fmt.Fprintf(streams.Out, "%s %q deleted\n", csrResource, name)
			}
			return errors.Join(errs...)
		},
	}
	cf.add(cmd)
	return cmd
}

func newCSRCreateCommand(streams IOStreams) *cobra.Command {
	var cf clientFlags
	var file string
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create CertificateSigningRequests from a manifest",
		Long: `Create the CertificateSigningRequests in a YAML or JSON manifest (several YAML
documents allowed; "-" reads standard input). Every document must be a
certificates.k8s.io/v1 CertificateSigningRequest; none is created if any is
malformed.`,
		Example: `  kubepki csr create -f jane-csr.yaml
  kubepki csr new --help   # to write the request itself`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return &UsageError{Err: errors.New("-f FILE is required")}
			}
			data, err := readManifest(streams.In, file)
			if err != nil {
				return err
			}
			csrs, err := parseCSRManifests(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			client, err := cf.csrClient()
			if err != nil {
				return err
			}
			var errs []error
			for i := range csrs {
				c, err := client.Create(cmd.Context(), &csrs[i], metav1.CreateOptions{})
				if err != nil {
					errs = append(errs, apiError(err))
					continue
				}
				fmt.Fprintf(streams.Out, "%s/%s created\n", csrResource, c.Name)
			}
			return errors.Join(errs...)
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVarP(&file, "filename", "f", "", `manifest file, or "-" for standard input`)
	return cmd
}

// readManifest reads file ("-" is in), bounded by maxManifestSize.
func readManifest(in io.Reader, file string) ([]byte, error) {
	r := in
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", file, err)
	}
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("manifest %s is larger than %d bytes", file, maxManifestSize)
	}
	return data, nil
}

// parseCSRManifests decodes YAML documents or JSON objects, each a
// certificates.k8s.io/v1 CertificateSigningRequest with a name (or
// generateName), or a list of them as kubectl reads it: a v1 List (what
// "kubectl get csr A B -o yaml" writes) or a CertificateSigningRequestList,
// whose items may be lists again. Items of a list that have neither
// apiVersion nor kind take the list's apiVersion and its kind less "List",
// as kubectl's decoder does for the typed lists an API server returns.
// Unknown fields are errors, in objects as kubectl's strict validation,
// and in lists (whose only fields are apiVersion, kind, metadata and
// items). Empty documents are skipped; no object at all is an error.
func parseCSRManifests(data []byte) ([]certv1.CertificateSigningRequest, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []certv1.CertificateSigningRequest
	for i := 0; ; i++ {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if len(raw) == 0 {
			continue
		}
		csrs, err := decodeCSRObject(raw, fmt.Sprintf("document %d", i+1))
		if err != nil {
			return nil, err
		}
		out = append(out, csrs...)
	}
	if len(out) == 0 {
		return nil, errors.New("no CertificateSigningRequest found")
	}
	return out, nil
}

// listKinds are the list types "csr create -f" reads, by apiVersion and
// kind.
var listKinds = map[[2]string]bool{
	{"v1", "List"}:                    true,
	{csrAPIVersion, csrKind + "List"}: true,
}

// decodeCSRObject decodes one object of a manifest, at where ("document
// 2", "document 2, item 3"): a CertificateSigningRequest, or a list whose
// items it decodes in turn. Nesting is bounded by the input's size.
func decodeCSRObject(raw map[string]any, where string) ([]certv1.CertificateSigningRequest, error) {
	apiVersion, _ := raw["apiVersion"].(string)
	kind, _ := raw["kind"].(string)
	if listKinds[[2]string{apiVersion, kind}] {
		return decodeCSRList(raw, apiVersion, kind, where)
	}
	j, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	var c certv1.CertificateSigningRequest
	if err := yaml.UnmarshalStrict(j, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if c.APIVersion != csrAPIVersion || c.Kind != csrKind {
		return nil, fmt.Errorf("%s: is %s %q, want apiVersion %s, kind %s (or a List of them)", where, c.APIVersion, c.Kind, csrAPIVersion, csrKind)
	}
	if c.Name == "" && c.GenerateName == "" {
		return nil, fmt.Errorf("%s: metadata.name is required", where)
	}
	return []certv1.CertificateSigningRequest{c}, nil
}

// decodeCSRList decodes the items of a list object raw.
func decodeCSRList(raw map[string]any, apiVersion, kind, where string) ([]certv1.CertificateSigningRequest, error) {
	for k := range raw {
		switch k {
		case "apiVersion", "kind", "metadata", "items":
		default:
			return nil, fmt.Errorf("%s: %s %s: unknown field %q", where, apiVersion, kind, k)
		}
	}
	if m, ok := raw["metadata"]; ok && m != nil {
		if _, ok := m.(map[string]any); !ok {
			return nil, fmt.Errorf("%s: %s %s: metadata must be an object", where, apiVersion, kind)
		}
	}
	var items []any
	switch v := raw["items"].(type) {
	case nil:
	case []any:
		items = v
	default:
		return nil, fmt.Errorf("%s: %s %s: items must be a list", where, apiVersion, kind)
	}
	var out []certv1.CertificateSigningRequest
	for i, it := range items {
		at := fmt.Sprintf("%s, item %d", where, i+1)
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: must be an object", at)
		}
		if _, hasKind := obj["kind"]; !hasKind {
			if _, hasVersion := obj["apiVersion"]; !hasVersion {
				obj = maps.Clone(obj)
				obj["apiVersion"] = apiVersion
				obj["kind"] = strings.TrimSuffix(kind, "List")
			}
		}
		csrs, err := decodeCSRObject(obj, at)
		if err != nil {
			return nil, err
		}
		out = append(out, csrs...)
	}
	return out, nil
}
