// Package e2e holds end-to-end tests that run kubepki serve as separate
// processes and break them: replicas failing over on a shared etcd, etcd
// members lost under load, and a server killed with SIGKILL on its bbolt
// store. It has no code of its own outside the tests.
package e2e
