package etcd_test

import (
	"context"
	"log"

	"github.com/kubepki/kubepki/internal/storage/etcd"
)

// Example connects as kube-apiserver does with kubeadm's files.
func Example() {
	tlsConfig, err := etcd.TLSConfig("/etc/kubernetes/pki/etcd/ca.crt",
		"/etc/kubernetes/pki/apiserver-etcd-client.crt", "/etc/kubernetes/pki/apiserver-etcd-client.key")
	if err != nil {
		log.Fatal(err)
	}
	s, err := etcd.New(context.Background(), etcd.Config{
		Endpoints: []string{"https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"},
		TLS:       tlsConfig,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Health(context.Background()); err != nil {
		log.Printf("etcd unhealthy: %v", err)
	}
}
