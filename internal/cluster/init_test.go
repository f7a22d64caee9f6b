package cluster

import (
	"testing"
)

func TestInitCreatesThenKeeps(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	res := mustInit(t, o)
	for _, f := range res.Files {
		if f.Status != StatusCreated {
			t.Errorf("first run: %s is %s, want created", f.Path, f.Status)
		}
	}
	res = mustInit(t, o)
	for _, f := range res.Files {
		if f.Status != StatusUnchanged {
			t.Errorf("second run: %s is %s, want unchanged", f.Path, f.Status)
		}
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q, want none", res.Warnings)
	}
	t.Log(keys(snapshot(t, o.KubeconfigDir)))
}
