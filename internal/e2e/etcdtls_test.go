package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubepki/kubepki/internal/cluster"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// TestServeOnEtcdWithInitCertificates runs the whole kubeadm-shaped setup:
// kubepki init makes the PKI, etcd serves with init's etcd/server
// certificate and requires clients from etcd/ca, and serve reaches it
// over mutual TLS with init's apiserver-etcd-client certificate. A serve
// without the client certificate is refused by etcd.
func TestServeOnEtcdWithInitCertificates(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	pkiDir := filepath.Join(dir, "pki")
	opts := cluster.DefaultOptions()
	opts.CertDir, opts.KubeconfigDir = pkiDir, dir
	opts.AdvertiseAddress = "127.0.0.1"
	opts.APIServerCertSANs = []string{"localhost"}
	if _, err := cluster.Init(ctx, opts); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(pkiDir, name) }
	etcdCluster := etcdtest.Start(t, etcdtest.Options{ClientTLS: &etcdtest.TLSFiles{
		CertFile: p("etcd/server.crt"), KeyFile: p("etcd/server.key"), ClientCAFile: p("etcd/ca.crt"),
	}})
	eps := strings.Join(etcdCluster.Endpoints(), ",")
	if !strings.HasPrefix(eps, "https://") {
		t.Fatalf("etcd endpoints %q are not https", eps)
	}

	r := newReplica(t, "r1", dir, "--etcd-servers", eps, "--etcd-cafile", p("etcd/ca.crt"),
		"--etcd-certfile", p("apiserver-etcd-client.crt"), "--etcd-keyfile", p("apiserver-etcd-client.key"))
	r.start()
	cs := r.client()
	created, err := cs.CertificatesV1().CertificateSigningRequests().Create(ctx, newUserCSR(t, "over-mtls"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := approve(ctx, cs, created); err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, ctx, cs, []string{"over-mtls"}, readCA(t, dir), 60*time.Second)

	// Without a client certificate etcd refuses the connection, and serve
	// says so instead of serving.
	bad := newReplica(t, "no-client-cert", filepath.Join(t.TempDir(), "bad"), "--etcd-servers", eps, "--etcd-cafile", p("etcd/ca.crt"))
	badCmdErr := bad.startExpectingFailure(30 * time.Second)
	if !strings.Contains(badCmdErr, "etcd") {
		t.Errorf("serve without an etcd client certificate: %q, want an error naming etcd", badCmdErr)
	}
}
