package etcd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/storagetest"
)

// envEndpoints names an etcd cluster outside the test process (for
// example Debian's etcd-server 3.4) to run the suite against, as a
// comma-separated list of client URLs. The suite compacts that cluster's
// history and writes under /kubepki-conformance/, so never point it at a
// cluster that holds data you need.
const envEndpoints = "KUBEPKI_TEST_ETCD_ENDPOINTS"

// With https endpoints, these name the CA, client certificate and key, as
// --etcd-cafile, --etcd-certfile and --etcd-keyfile do.
const (
	envCAFile   = "KUBEPKI_TEST_ETCD_CAFILE"
	envCertFile = "KUBEPKI_TEST_ETCD_CERTFILE"
	envKeyFile  = "KUBEPKI_TEST_ETCD_KEYFILE"
)

func TestConformanceExternal(t *testing.T) {
	eps := os.Getenv(envEndpoints)
	if eps == "" {
		t.Skipf("SKIPPED: %s is not set; set it to the client URLs of a disposable etcd (for example http://127.0.0.1:2379) to run the suite against it", envEndpoints)
	}
	run := rand.Text()[:8]
	var tlsCfg *tls.Config
	if ca := os.Getenv(envCAFile); ca != "" {
		var err error
		if tlsCfg, err = TLSConfig(ca, os.Getenv(envCertFile), os.Getenv(envKeyFile)); err != nil {
			t.Fatal(err)
		}
	}
	storagetest.RunSerial(t, func(t *testing.T) storage.Interface {
		prefix := fmt.Sprintf("/kubepki-conformance/%s/%s", run, strings.ReplaceAll(t.Name(), "/", "_"))
		s := newTestStore(t, Config{Endpoints: strings.Split(eps, ","), TLS: tlsCfg, Prefix: prefix})
		ver, err := s.Client().Status(t.Context(), s.Client().Endpoints()[0])
		if err != nil {
			t.Fatalf("etcd status: %v", err)
		}
		t.Logf("etcd %s at %s, prefix %s", ver.Version, eps, prefix)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The suite may have closed s; clean up with a client of our own.
			c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(eps, ","), TLS: tlsCfg, DialTimeout: 5 * time.Second})
			if err != nil {
				t.Errorf("clean up %s: %v", prefix, err)
				return
			}
			defer c.Close()
			if _, err := c.Delete(ctx, prefix+"/", clientv3.WithPrefix()); err != nil {
				t.Errorf("clean up %s: %v", prefix, err)
			}
		})
		return s
	})
}
