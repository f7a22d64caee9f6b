package inspect

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// guide builds a cluster's PKI with the openssl commands hand-written
// guides use, into a folder of its own.
type guide struct {
	t       *testing.T
	openssl string
	dir     string
}

func newGuide(t *testing.T) *guide {
	t.Helper()
	return &guide{t: t, openssl: pkitest.RequireTool(t, "openssl"), dir: t.TempDir()}
}

// run runs openssl in the guide's folder.
func (g *guide) run(args ...string) {
	g.t.Helper()
	cmd := exec.CommandContext(g.t.Context(), g.openssl, args...)
	cmd.Dir = g.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		g.t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (g *guide) path(name string) string { return filepath.Join(g.dir, name) }

func (g *guide) write(name, content string, mode os.FileMode) {
	g.t.Helper()
	p := g.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		g.t.Fatal(err)
	}
}

// key makes an ECDSA P-256 key (PKCS#8, as openssl genpkey writes it) and
// sets its mode to 0600, as the guides tell.
func (g *guide) key(name string) {
	g.t.Helper()
	g.mkdir(name)
	g.run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name)
	g.chmod(name, 0o600)
}

func (g *guide) mkdir(name string) {
	g.t.Helper()
	if err := os.MkdirAll(filepath.Dir(g.path(name)), 0o755); err != nil {
		g.t.Fatal(err)
	}
}

func (g *guide) chmod(name string, mode os.FileMode) {
	g.t.Helper()
	if err := os.Chmod(g.path(name), mode); err != nil {
		g.t.Fatal(err)
	}
}

const caExt = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyEncipherment,keyCertSign\nsubjectKeyIdentifier=hash\n"

// ca makes a self-signed CA: base.key and base.crt with common name cn.
func (g *guide) ca(base, cn string) {
	g.t.Helper()
	g.key(base + ".key")
	g.write(base+".ext", caExt, 0o644)
	g.run("req", "-new", "-key", base+".key", "-subj", "/CN="+cn, "-out", base+".csr")
	g.run("x509", "-req", "-in", base+".csr", "-signkey", base+".key", "-days", "3650", "-sha256", "-extfile", base+".ext", "-out", base+".crt")
	g.cleanup(base+".ext", base+".csr")
}

// leaf makes base.key and base.crt for subject, signed by the CA files
// ca.crt and ca.key (as "-CA ca.crt -CAkey ca.key"), with the extension
// lines ext; extra are further openssl x509 arguments.
func (g *guide) leaf(base, ca, subject, ext string, extra ...string) {
	g.t.Helper()
	g.key(base + ".key")
	g.sign(base, ca, subject, ext, extra...)
}

// sign makes base.crt for base.key (which must exist).
func (g *guide) sign(base, ca, subject, ext string, extra ...string) {
	g.t.Helper()
	g.run("req", "-new", "-key", base+".key", "-subj", subject, "-out", base+".csr")
	args := []string{"x509", "-req", "-in", base + ".csr", "-days", "365", "-out", base + ".crt"}
	if ca != "" {
		args = append(args, "-CA", ca+".crt", "-CAkey", ca+".key")
	}
	if ext != "" {
		g.write(base+".ext", ext, 0o644)
		args = append(args, "-extfile", base+".ext")
		defer g.cleanup(base + ".ext")
	}
	g.run(append(args, extra...)...)
	g.cleanup(base + ".csr")
}

func (g *guide) cleanup(names ...string) {
	for _, n := range names {
		os.Remove(g.path(n))
	}
}

// Extension files of a correct cluster.
const (
	extClient = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
	extServer = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
	apiSANs   = "subjectAltName=DNS:cp1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1,IP:10.0.0.10\n"
)

// cluster makes a correct guide-built cluster: the cluster CA, the
// kube-apiserver serving certificate, kube-apiserver's kubelet client
// certificate, a kubelet client certificate for node01 and a user jane.
func (g *guide) cluster() {
	g.t.Helper()
	g.ca("ca", "kubernetes")
	g.leaf("apiserver", "ca", "/CN=kube-apiserver", extServer+apiSANs)
	g.leaf("apiserver-kubelet-client", "ca", "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client", extClient)
	g.leaf("kubelet-node01", "ca", "/O=system:nodes/CN=system:node:node01", extClient)
	g.leaf("jane", "ca", "/O=dev/CN=jane", extClient)
}
