// Command kubepki builds, serves and checks a Kubernetes cluster's PKI.
package main

import "github.com/kubepki/kubepki/internal/cli"

func main() { cli.Main() }
