package cli

import (
	"fmt"
	"os"
	"testing"
)

// childEnv makes the test binary act as the kubepki command. The tests set
// it for the processes they start, so that a command which runs kubepki
// again (the bench's separate serve process, from os.Executable) runs the
// real command instead of the tests.
const childEnv = "KUBEPKI_CLI_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		Main()
	}
	if err := os.Setenv(childEnv, "1"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}
