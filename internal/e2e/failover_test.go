package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	certv1 "k8s.io/api/certificates/v1"

	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/kubeconfig"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// leaderPort returns the port in the identity of the current controller
// leader, read from the election keys in etcd ("" if none).
func leaderPort(t *testing.T, ctx context.Context, endpoints []string) string {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Get(ctx, controller.DefaultElectionPrefix, clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	id := string(resp.Kvs[0].Value)
	return id[strings.LastIndex(id, "_")+1:]
}

func waitLeader(t *testing.T, ctx context.Context, endpoints []string, among ...*replica) *replica {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p := leaderPort(t, ctx, endpoints); p != "" {
			for _, r := range among {
				if r.cmd != nil && r.port() == p {
					return r
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no replica became the controller leader within 60s")
	return nil
}

// watchCerts records every certificate the survivor's watch shows.
func watchCerts(t *testing.T, ctx context.Context, cs kubernetes.Interface) *certWatcher {
	t.Helper()
	w := &certWatcher{certs: map[string]map[string]bool{}}
	wi, err := cs.CertificatesV1().CertificateSigningRequests().Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	go func() {
		for ev := range wi.ResultChan() {
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				if c, ok := ev.Object.(*certv1.CertificateSigningRequest); ok {
					w.observe(c)
				}
			}
		}
	}()
	t.Cleanup(wi.Stop)
	return w
}

// TestReplicasFailOver runs two replicas on one etcd, streams approvals
// through the follower, kills the leading replica with SIGKILL, and checks
// that the follower takes over and every approved CSR ends with exactly
// one certificate.
func TestReplicasFailOver(t *testing.T) {
	ctx := t.Context()
	cluster := etcdtest.Start(t, etcdtest.Options{Members: 1})
	eps := strings.Join(cluster.Endpoints(), ",")
	extra := []string{"--etcd-servers", eps, "--leader-elect-lease-duration", "3s"}

	d1, d2 := filepath.Join(t.TempDir(), "r1"), filepath.Join(t.TempDir(), "r2")
	r1 := newReplica(t, "r1", d1, extra...)
	r1.start()
	// The second replica shares the first one's pki/ and nothing else.
	copyTree(t, filepath.Join(d1, "pki"), filepath.Join(d2, "pki"))
	r2 := newReplica(t, "r2", d2, extra...)
	r2.start()
	cfg2, err := kubeconfig.Read(filepath.Join(d2, "admin.conf"))
	if err != nil {
		t.Fatalf("second replica wrote no admin.conf of its own: %v", err)
	}
	for _, c := range cfg2.Clusters {
		if !strings.HasSuffix(c.Server, ":"+r2.port()) {
			t.Errorf("r2's admin.conf points at %s, want its own port %s", c.Server, r2.port())
		}
	}
	ca := readCA(t, d1)

	leader := waitLeader(t, ctx, cluster.Endpoints(), r1, r2)
	follower := r1
	if leader == r1 {
		follower = r2
	}
	t.Logf("leader %s, follower %s", leader.name, follower.name)
	cs := follower.client()
	seen := watchCerts(t, ctx, cs)

	const total = 40
	var approved []string
	var killedAt time.Time
	for i := range total {
		if i == total/2 {
			// Let the leader hold some CSRs in flight, then crash it.
			leader.kill()
			killedAt = time.Now()
		}
		csr := newUserCSR(t, fmt.Sprintf("failover-%03d", i))
		created, err := cs.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create %s through the follower: %v", csr.Name, err)
		}
		if err := approve(ctx, cs, created); err != nil {
			t.Fatalf("approve %s through the follower: %v", csr.Name, err)
		}
		approved = append(approved, csr.Name)
	}
	verifyIssued(t, ctx, cs, approved, ca, 90*time.Second)
	if p := leaderPort(t, ctx, cluster.Endpoints()); p != follower.port() {
		t.Errorf("leader after failover has port %q, want the follower's %s", p, follower.port())
	}
	if d := seen.duplicates(); len(d) > 0 {
		t.Errorf("CSRs seen with two different certificates: %v", d)
	}
	// Every delivered certificate was audited before it was stored: its
	// serial appears in a "csr signed" line of the replica that signed it.
	signed := map[string]bool{}
	for _, r := range []*replica{r1, r2} {
		for _, l := range r.logs.find("csr signed") {
			signed[fmt.Sprint(l["csr"])+"/"+fmt.Sprint(l["serial"])] = true
		}
	}
	list, err := cs.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list.Items {
		cert, err := pki.ParseCertificatePEM(c.Status.Certificate)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if !signed[c.Name+"/"+cert.SerialNumber.Text(16)] {
			t.Errorf("%s: certificate serial %x has no \"csr signed\" audit line", c.Name, cert.SerialNumber)
		}
	}
	// The objects sit where kube-apiserver keeps them.
	ec, err := clientv3.New(clientv3.Config{Endpoints: cluster.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	resp, err := ec.Get(ctx, "/registry/certificatesigningrequests/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != int64(total) {
		t.Errorf("etcd has %v keys under /registry/certificatesigningrequests/ (%v), want %d", resp.Count, err, total)
	}
	var firstAfter time.Time
	for _, l := range follower.logs.find("certificate issued") {
		if ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["time"])); err == nil && ts.After(killedAt) && (firstAfter.IsZero() || ts.Before(firstAfter)) {
			firstAfter = ts
		}
	}
	t.Logf("takeover: first certificate from the new leader %v after the kill", firstAfter.Sub(killedAt))
}

// TestEtcdMemberLossUnderLoad stops one of three etcd members, the leader,
// while CSRs are created and approved, then brings it back: every request
// that succeeded is stored, failures are only retryable ones, and every
// approved CSR is issued.
func TestEtcdMemberLossUnderLoad(t *testing.T) {
	ctx := t.Context()
	cluster := etcdtest.Start(t, etcdtest.Options{Members: 3})
	r := newReplica(t, "r1", filepath.Join(t.TempDir(), "r1"), "--etcd-servers", strings.Join(cluster.Endpoints(), ","))
	r.start()
	cs := r.client()
	ca := readCA(t, r.dir)

	var (
		mu       sync.Mutex
		created  []string
		approved []string
		failures []error
	)
	const workers, perWorker = 2, 40
	var wg sync.WaitGroup
	stopAt := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if i == perWorker/3 && w == 0 {
					close(stopAt)
				}
				csr := newUserCSR(t, fmt.Sprintf("member-loss-%d-%03d", w, i))
				c, err := cs.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{})
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					continue
				}
				mu.Lock()
				created = append(created, c.Name)
				mu.Unlock()
				if err := approve(ctx, cs, c); err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					continue
				}
				mu.Lock()
				approved = append(approved, c.Name)
				mu.Unlock()
			}
		})
	}
	<-stopAt
	victim := cluster.Leader()
	if victim == nil {
		t.Fatal("etcd cluster has no leader")
	}
	t.Logf("stopping etcd member %s (the leader)", victim.Name)
	victim.Stop()
	time.Sleep(2 * time.Second) // keep the member down while load continues
	victim.Restart(t)
	wg.Wait()

	for _, err := range failures {
		if !retryable(err) {
			t.Errorf("non-retryable error while the quorum held: %v", err)
		}
	}
	t.Logf("%d created, %d approved, %d retryable failures", len(created), len(approved), len(failures))
	if len(created) < workers*perWorker/2 {
		t.Errorf("only %d of %d creates succeeded while the quorum held", len(created), workers*perWorker)
	}
	for _, n := range created {
		if _, err := cs.CertificatesV1().CertificateSigningRequests().Get(ctx, n, metav1.GetOptions{}); err != nil {
			t.Errorf("acknowledged create %s is gone: %v", n, err)
		}
	}
	verifyIssued(t, ctx, cs, approved, ca, 90*time.Second)
}
