package controller_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kubepki/kubepki/internal/controller"
	"github.com/kubepki/kubepki/internal/pki"
	"github.com/kubepki/kubepki/internal/storage/etcd/etcdtest"
)

// TestManagerFailover runs two Managers that elect a leader through real
// etcd, against one API server, while approvals stream in. The leader is
// stopped half-way; the other takes over, and every approved CSR ends
// with exactly one certificate, signed once.
func TestManagerFailover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cluster := etcdtest.Start(t, etcdtest.Options{})
	recs := map[string]*recorder{"a": newRecorder(), "b": newRecorder()}
	stops := map[string]func(){}
	for id, rec := range recs {
		el := newElector(t, etcdClient(t, cluster.Endpoints()...), id, 2*time.Second)
		_, stops[id] = startManager(t, controller.Config{Client: e.ctrl, Signers: controller.SameCA(e.srv.CA), Logger: logger(rec),
			Identity: id, Elector: el, DisableCleaner: true})
	}

	const n = 40
	keys := make([]any, n)
	var wg sync.WaitGroup
	var once sync.Once
	var stopped string
	for i := range n {
		name := fmt.Sprintf("fo-%02d", i)
		in, key := userCSR(t, name)
		keys[i] = key.Public()
		create(t, e.admin, in)
		approve(t, e.admin, name)
		if i == n/2 {
			// Stop whichever controller.Manager has issued so far: the leader.
			waitIssued(t, e.admin, fmt.Sprintf("fo-%02d", i))
			eventually(func() bool {
				return recs["a"].count("certificate issued", "")+recs["b"].count("certificate issued", "") > 0
			})
			once.Do(func() {
				for id, rec := range recs {
					if rec.count("certificate issued", "") > 0 {
						stopped = id
						wg.Go(stops[id])
					}
				}
			})
		}
	}
	wg.Wait()
	if stopped == "" {
		t.Fatal("no controller.Manager issued anything before the failover")
	}
	for i := range n {
		name := fmt.Sprintf("fo-%02d", i)
		_, cert := waitIssued(t, e.admin, name)
		if !pki.PublicKeysEqual(cert.PublicKey, keys[i]) {
			t.Errorf("%s: certificate for another key", name)
		}
		var signed int
		eventually(func() bool {
			signed = recs["a"].count("csr signed", name) + recs["b"].count("csr signed", name)
			return signed >= 1
		})
		if signed != 1 {
			t.Errorf("%s: signed %d times, want 1", name, signed)
		}
	}
	other := "a"
	if stopped == "a" {
		other = "b"
	}
	if recs[other].count("certificate issued", "") == 0 {
		t.Errorf("the standby %s never issued after %s stopped", other, stopped)
	}
	t.Logf("%s issued %d before stopping, %s issued %d", stopped, recs[stopped].count("certificate issued", ""),
		other, recs[other].count("certificate issued", ""))
}
