package controller_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubepki/kubepki/internal/apiserver/apiservertest"
	"github.com/kubepki/kubepki/internal/certificates"
	"github.com/kubepki/kubepki/internal/controller"
)

// BenchmarkSignerDrain measures the signer alone: b.N approved CSRs wait
// in the store, then a Manager (on the server's LocalClient, as serve
// runs it, over bbolt) reserves, signs and stores each one. Reported as CSRs issued per second.
func BenchmarkSignerDrain(b *testing.B) {
	srv := apiservertest.Start(b, apiservertest.Options{})
	admin := srv.Clientset(apiservertest.AdminUser, apiservertest.AdminGroup).CertificatesV1().CertificateSigningRequests()
	ctrl, err := srv.API.LocalClient()
	if err != nil {
		b.Fatal(err)
	}
	in, _ := userCSR(b, "template")
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range b.N {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c := in.DeepCopy()
			c.Name = fmt.Sprintf("bench-%06d", i)
			create(b, admin, c)
			approve(b, admin, c.Name)
		})
	}
	wg.Wait()
	list, err := admin.List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime(b)
	start := time.Now()
	rec := newRecorder()
	m, err := controller.New(controller.Config{Client: ctrl, Logger: logger(rec), Signers: controller.SameCA(srv.CA), DisableApprover: true, DisableCleaner: true, Workers: benchWorkers})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx) }()
	// Registered after Start's, so it runs first: on a failure the
	// manager stops before the server and its store close under it.
	stopped := false
	b.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	// Follow watches again when the server ends the stream: the store
	// ends a watcher 256 events behind, and the signer writes two events
	// per CSR, faster than this goroutine may be scheduled.
	issued := 0
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer wcancel()
	rewatches, err := apiservertest.Follow(wctx, admin, list.ResourceVersion, func(typ watch.EventType, csr *certv1.CertificateSigningRequest) bool {
		if typ == watch.Modified && certificates.HasCertificate(csr) {
			issued++
		}
		return issued < b.N
	})
	if err != nil {
		b.Fatalf("%d of %d issued: %v", issued, b.N, err)
	}
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	cancel()
	stopped = true
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "issued/s")
	b.ReportMetric(float64(rec.count("csr processing failed; retrying", "")), "retries")
	b.ReportMetric(float64(rewatches), "rewatches")
	// CPU of the whole process (server, store, client and signer) per
	// issued CSR: steadier than wall time on a shared machine.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/issued")
}

// cpuTime returns the user plus system CPU time of this process.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchWorkers is the signer's worker count in BenchmarkSignerDrain.
var benchWorkers = controller.DefaultWorkers
