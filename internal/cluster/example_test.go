package cluster_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/kubepki/kubepki/internal/cluster"
)

// Init makes kubeadm's whole PKI for one control-plane node; a second run
// finds every file in place and changes nothing.
func ExampleInit() {
	dir, err := os.MkdirTemp("", "kubepki-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	opts := cluster.DefaultOptions()
	opts.CertDir = filepath.Join(dir, "pki")
	opts.KubeconfigDir = dir
	opts.NodeName = "cp1"
	opts.AdvertiseAddress = "10.0.0.10"
	for range 2 {
		res, err := cluster.Init(context.Background(), opts)
		if err != nil {
			log.Fatal(err)
		}
		count := map[cluster.Status]int{}
		for _, f := range res.Files {
			count[f.Status]++
		}
		fmt.Println(len(res.Files), "files:", count[cluster.StatusCreated], "created,", count[cluster.StatusUnchanged], "unchanged")
	}
	// Output:
	// 27 files: 27 created, 0 unchanged
	// 27 files: 0 created, 27 unchanged
}

// ComponentFlags prints the flags that point a component at the files.
func ExampleComponentFlags() {
	opts := cluster.DefaultOptions()
	flags, err := cluster.ComponentFlags(opts, "etcd", "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(flags)
	// Output:
	// --cert-file=/etc/kubernetes/pki/etcd/server.crt
	// --key-file=/etc/kubernetes/pki/etcd/server.key
	// --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt
	// --peer-key-file=/etc/kubernetes/pki/etcd/peer.key
	// --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
	// --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
	// --client-cert-auth=true
	// --peer-client-cert-auth=true
}
