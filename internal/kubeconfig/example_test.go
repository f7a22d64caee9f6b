package kubeconfig_test

import (
	"fmt"

	"github.com/kubepki/kubepki/internal/kubeconfig"
)

func ExampleNewCertConfig() {
	cfg := kubeconfig.NewCertConfig("kubernetes", "https://10.0.0.1:6443",
		[]byte("CA PEM"), "jane", []byte("CERT PEM"), []byte("KEY PEM"))
	b, err := kubeconfig.Marshal(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(b))
	// Output:
	// apiVersion: v1
	// clusters:
	// - cluster:
	//     certificate-authority-data: Q0EgUEVN
	//     server: https://10.0.0.1:6443
	//   name: kubernetes
	// contexts:
	// - context:
	//     cluster: kubernetes
	//     user: jane
	//   name: jane@kubernetes
	// current-context: jane@kubernetes
	// kind: Config
	// users:
	// - name: jane
	//   user:
	//     client-certificate-data: Q0VSVCBQRU0=
	//     client-key-data: S0VZIFBFTQ==
}

func ExampleMerge() {
	_, _, err := kubeconfig.Merge(nil, kubeconfig.PreferNone)
	fmt.Println(err)
	// Output: no kubeconfig files to merge
}
