package inspect

// Manifest describes a static pod manifest or kubelet configuration.
type Manifest struct{}
