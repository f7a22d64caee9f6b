package cluster

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/pki/pkitest"
)

// Benchmarks for docs/PERFORMANCE.md ("Offline PKI"). Run with
//
//	go test -run '^$' -bench . -benchtime 3x ./internal/cluster
//
// The openssl benchmarks shell out to the real openssl in the style of
// hand-written guides, for the ratio in the same run.

// benchRoot holds every benchmark's output until the test process ends.
// Deleting thousands of files and then creating thousands more is what
// the next benchmark would otherwise measure: on ext4 without a journal
// (as on these build machines) the inode allocator skips, one by one, the
// inodes freed in the last minutes, so creating a file after a mass
// deletion costs several times as much CPU (see docs/PERFORMANCE.md).
var benchRoot struct {
	once sync.Once
	dir  string
	err  error
}

// benchDir returns a new empty folder under benchRoot.
func benchDir(b *testing.B) string {
	b.Helper()
	benchRoot.once.Do(func() { benchRoot.dir, benchRoot.err = os.MkdirTemp("", "kubepki-bench-") })
	if benchRoot.err != nil {
		b.Fatal(benchRoot.err)
	}
	dir, err := os.MkdirTemp(benchRoot.dir, "run-")
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// benchOptions are testOptions in a new folder under benchRoot.
func benchOptions(b *testing.B) Options {
	b.Helper()
	return optionsIn(benchDir(b))
}

func TestMain(m *testing.M) {
	// The benchmarks run with the garbage collector set as the kubepki
	// commands set it for a run.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	code := m.Run()
	if benchRoot.dir != "" {
		os.RemoveAll(benchRoot.dir)
	}
	os.Exit(code)
}

// processCPU returns the CPU time (user + system) this process has used.
// Benchmarks report it next to wall time: on a shared machine the wall
// time mostly measures the other tenants, the CPU time what the work costs.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU milliseconds per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU(b)-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

var benchAlgorithms = []pki.KeyAlgorithm{pki.ECDSAP256, pki.ECDSAP384, pki.RSA2048, pki.RSA3072, pki.Ed25519}

func BenchmarkGenerateKey(b *testing.B) {
	for _, alg := range benchAlgorithms {
		b.Run(string(alg), func(b *testing.B) {
			cpu := processCPU(b)
			for b.Loop() {
				if _, err := pki.GenerateKey(alg); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range benchAlgorithms {
		b.Run(string(alg), func(b *testing.B) {
			ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "bench", KeyAlgorithm: alg})
			if err != nil {
				b.Fatal(err)
			}
			key, err := pki.GenerateKey(pki.ECDSAP256)
			if err != nil {
				b.Fatal(err)
			}
			opts := pki.CertOptions{Subject: pkix.Name{CommonName: "system:node:w1", Organization: []string{"system:nodes"}},
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			cpu := processCPU(b)
			for b.Loop() {
				if _, err := ca.Sign(key.Public(), opts); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkInit is init for one control-plane node into an empty folder:
// 16 keys, 15 certificates, 27 files.
func BenchmarkInit(b *testing.B) {
	for _, alg := range []pki.KeyAlgorithm{pki.ECDSAP256, pki.RSA2048} {
		b.Run(string(alg), func(b *testing.B) {
			run := func() {
				o := benchOptions(b)
				o.KeyAlgorithm = alg
				if _, err := Init(b.Context(), o); err != nil {
					b.Fatal(err)
				}
			}
			// One untimed run first: the process's first Init also pays
			// one-time set-up (lazily built tables in crypto and YAML),
			// which a short -benchtime would otherwise spread over its
			// few iterations.
			run()
			cpu := processCPU(b)
			for b.Loop() {
				run()
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkOpenSSLInit makes the same 16 keys and 15 certificates with the
// openssl sequence of hand-written guides: genpkey (or genrsa), req -new,
// x509 -req per certificate, req -x509 per CA, one openssl per step.
// Kubeconfig assembly is not counted for openssl.
func BenchmarkOpenSSLInit(b *testing.B) {
	openssl := pkitest.RequireTool(b, "openssl")
	type item struct{ name, ca, subj string }
	cas := []item{{"ca", "", "/CN=kubernetes"}, {"front-proxy-ca", "", "/CN=front-proxy-ca"}, {"etcd-ca", "", "/CN=etcd-ca"}}
	leaves := []item{
		{"apiserver", "ca", "/CN=kube-apiserver"}, {"apiserver-kubelet-client", "ca", "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client"},
		{"front-proxy-client", "front-proxy-ca", "/CN=front-proxy-client"}, {"etcd-server", "etcd-ca", "/CN=cp1"},
		{"etcd-peer", "etcd-ca", "/CN=cp1"}, {"etcd-healthcheck-client", "etcd-ca", "/CN=kube-etcd-healthcheck-client"},
		{"apiserver-etcd-client", "etcd-ca", "/CN=kube-apiserver-etcd-client"},
		{"admin", "ca", "/O=kubeadm:cluster-admins/CN=kubernetes-admin"}, {"super-admin", "ca", "/O=system:masters/CN=kubernetes-super-admin"},
		{"controller-manager", "ca", "/CN=system:kube-controller-manager"}, {"scheduler", "ca", "/CN=system:kube-scheduler"},
		{"kubelet", "ca", "/O=system:nodes/CN=system:node:cp1"},
	}
	for _, alg := range []string{"ec", "rsa"} {
		b.Run(alg, func(b *testing.B) {
			genkey := func(out string) []string {
				if alg == "rsa" {
					return []string{"genrsa", "-out", out, "2048"}
				}
				return []string{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", out}
			}
			var cpu time.Duration // of the openssl processes
			run := func(args ...string) {
				cmd := exec.Command(openssl, args...)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("openssl %v: %v\n%s", args, err, out)
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			ext := filepath.Join(b.TempDir(), "ext.cnf")
			if err := os.WriteFile(ext, []byte("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:cp1,DNS:kubernetes,IP:10.96.0.1,IP:10.0.0.10\n"), 0o600); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				dir := benchDir(b)
				p := func(name string) string { return filepath.Join(dir, name) }
				for _, ca := range cas {
					run(genkey(p(ca.name + ".key"))...)
					run("req", "-x509", "-new", "-key", p(ca.name+".key"), "-subj", ca.subj, "-days", "3650", "-out", p(ca.name+".crt"))
				}
				for _, l := range leaves {
					run(genkey(p(l.name + ".key"))...)
					run("req", "-new", "-key", p(l.name+".key"), "-subj", l.subj, "-out", p(l.name+".csr"))
					run("x509", "-req", "-in", p(l.name+".csr"), "-CA", p(l.ca+".crt"), "-CAkey", p(l.ca+".key"), "-CAcreateserial",
						"-days", "365", "-extfile", ext, "-out", p(l.name+".crt"))
				}
				run(genkey(p("sa.key"))...)
				run("pkey", "-in", p("sa.key"), "-pubout", "-out", p("sa.pub"))
			}
			b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}

// benchNodes are n worker nodes with an IP each.
func benchNodes(n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{Name: fmt.Sprintf("w%04d", i), IPs: []string{fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)}}
	}
	return nodes
}

// BenchmarkIssueNodes issues 1,000 nodes' credentials to files on all
// cores: per node a kubelet serving certificate and a client certificate
// (two keys, two signatures) and five files (2 × .crt/.key + kubelet.conf),
// each written atomically with fsync. Reported: certificates per second.
func BenchmarkIssueNodes(b *testing.B) {
	const n = 1000
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		o := benchOptions(b)
		mustInit(b, o)
		nodes := benchNodes(n)
		b.StartTimer()
		start := processCPU(b)
		if _, err := IssueNodes(b.Context(), o, nodes, "https://10.0.0.10:6443"); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - start
	}
	b.ReportMetric(float64(2*n*b.N)/b.Elapsed().Seconds(), "certs/s")
	b.ReportMetric(float64(2*n*b.N)/cpu.Seconds(), "certs/cpu-s")
}

// BenchmarkRawGenerateAndSign is the ceiling for the issuing benchmarks:
// generate an ECDSA P-256 key and sign a kubelet serving certificate for
// it (the subject, usages and SANs that IssueNodeServingCerts issues) with
// pki.CA.Sign, that is x509.CreateCertificate, in memory, on all cores,
// 2,000 times.
func BenchmarkRawGenerateAndSign(b *testing.B) {
	const n = 2000
	ca, err := pki.NewSelfSignedCA(pki.CAOptions{CommonName: "kubernetes"})
	if err != nil {
		b.Fatal(err)
	}
	opts := pki.CertOptions{Subject: pkix.Name{CommonName: "system:node:w0001", Organization: []string{"system:nodes"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SANs:        pki.SANs{DNSNames: []string{"w0001"}, IPAddresses: []net.IP{net.ParseIP("10.1.0.2").To4()}}}
	cpu := processCPU(b)
	for b.Loop() {
		var wg sync.WaitGroup
		next := make(chan struct{})
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for range next {
					key, err := pki.GenerateKey(pki.ECDSAP256)
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := ca.Sign(key.Public(), opts); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		for range n {
			next <- struct{}{}
		}
		close(next)
		wg.Wait()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "certs/s")
	b.ReportMetric(float64(n*b.N)/(processCPU(b)-cpu).Seconds(), "certs/cpu-s")
}

// BenchmarkWriteFile measures one atomic small-file write (temp file,
// fsync, rename, directory fsync) against the same without the two
// fsyncs, to show what the disk's sync costs.
func BenchmarkWriteFile(b *testing.B) {
	data := make([]byte, 600)
	b.Run("pki.WriteFile", func(b *testing.B) {
		dir := benchDir(b)
		i := 0
		for b.Loop() {
			i++
			if err := pki.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.key", i)), data, pki.ModeKey); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("no-sync", func(b *testing.B) {
		dir := benchDir(b)
		i := 0
		for b.Loop() {
			i++
			path := filepath.Join(dir, fmt.Sprintf("f%d.key", i))
			if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(path+".tmp", path); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkIssueNodeServingCerts issues only the 1,000 kubelet serving
// certificates (key + certificate file each), the closest file-writing
// counterpart of BenchmarkRawGenerateAndSign's 1,000 certificates.
func BenchmarkIssueNodeServingCerts(b *testing.B) {
	const n = 1000
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		o := benchOptions(b)
		mustInit(b, o)
		o.WorkerNodes = benchNodes(n)
		p, err := NewPlan(o)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := processCPU(b)
		r, err := p.issueRun("")
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range p.Certs {
			if !c.Kubeadm {
				r.planCert(c)
			}
		}
		if _, err := r.execute(b.Context()); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - start
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "certs/s")
	b.ReportMetric(float64(n*b.N)/cpu.Seconds(), "certs/cpu-s")
}

// BenchmarkStageCommit writes 2,000 small files (the files of 1,000
// serving certificates, one folder per node) through the staged commit,
// without any crypto: what the file system alone costs.
func BenchmarkStageCommit(b *testing.B) {
	const n = 1000
	data := make([]byte, 600)
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		dir := benchDir(b)
		var st stage
		for i := range n {
			base := filepath.Join(dir, "nodes", fmt.Sprintf("w%04d", i), "kubelet")
			st.add(base+".crt", data, pki.ModeCert, pki.ModeKeyDir)
			st.add(base+".key", data, pki.ModeKey, pki.ModeKeyDir)
		}
		b.StartTimer()
		start := processCPU(b)
		if err := st.commit(b.Context()); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - start
	}
	b.ReportMetric(float64(2*n*b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(2*n*b.N)/cpu.Seconds(), "files/cpu-s")
}

// BenchmarkCreateFiles is the file system's own floor for StageCommit:
// 2,000 small files created with os.WriteFile in 1,000 new folders, with
// no kubepki code around them ("fresh"), and the same right after
// deleting 2,000 other files of the same folder ("after-delete"), which
// shows what mass deletion costs the next creations on ext4 without a
// journal.
func BenchmarkCreateFiles(b *testing.B) {
	const n = 1000
	data := make([]byte, 600)
	create := func(dir string) {
		for i := range n {
			d := filepath.Join(dir, fmt.Sprintf("w%04d", i))
			if err := os.Mkdir(d, 0o700); err != nil {
				b.Fatal(err)
			}
			for _, name := range []string{"kubelet.crt", "kubelet.key"} {
				if err := os.WriteFile(filepath.Join(d, name), data, 0o600); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	for _, deleteFirst := range []bool{false, true} {
		name := "fresh"
		if deleteFirst {
			name = "after-delete"
		}
		b.Run(name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				dir := benchDir(b)
				if deleteFirst {
					if err := os.Mkdir(filepath.Join(dir, "old"), 0o700); err != nil {
						b.Fatal(err)
					}
					create(filepath.Join(dir, "old"))
					if err := os.RemoveAll(filepath.Join(dir, "old")); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				start := processCPU(b)
				create(dir)
				cpu += processCPU(b) - start
			}
			b.ReportMetric(float64(2*n*b.N)/b.Elapsed().Seconds(), "files/s")
			b.ReportMetric(float64(2*n*b.N)/cpu.Seconds(), "files/cpu-s")
		})
	}
}
