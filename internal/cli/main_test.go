package cli

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// childEnv makes the test binary act as the kubepki command. The tests set
// it for the processes they start, so that a command which runs kubepki
// again (the bench's separate serve process, from os.Executable) runs the
// real command instead of the tests.
const childEnv = "KUBEPKI_CLI_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" && !testFlags(os.Args[1:]) {
		Main()
	}
	if err := os.Setenv(childEnv, "1"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// testFlags reports whether args hold a flag of the testing package: the
// processes "go test -fuzz" starts as fuzzing workers inherit childEnv
// from this one, and must run as tests, not as the kubepki command.
func testFlags(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "-test.") || strings.HasPrefix(a, "--test.") {
			return true
		}
	}
	return false
}

func TestTestFlags(t *testing.T) {
	t.Parallel()
	// The arguments of a fuzzing worker, and of the commands the tests
	// start as children (which must run as kubepki).
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"-test.paniconexit0", "-test.fuzzworker", "-test.run=^$", "-test.fuzz=^FuzzParseUsages$"}, true},
		{[]string{"--test.v"}, true},
		{[]string{"serve", "--data-dir", "/tmp/x", "--secure-port", "0"}, false},
		{nil, false},
	} {
		if got := testFlags(tc.args); got != tc.want {
			t.Errorf("testFlags(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
