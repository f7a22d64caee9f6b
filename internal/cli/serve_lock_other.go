//go:build !unix

package cli

// lockDataDir does nothing where there is no flock: the bbolt store still
// locks its own file.
func lockDataDir(dir string) (release func(), err error) { return func() {}, nil }
