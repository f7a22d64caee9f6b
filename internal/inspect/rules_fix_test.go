package inspect

import (
	"strings"
	"testing"
)

// TestRuleFixesWork: the fixes of rules whose first advice used to be a
// dead end point to what works. Commands are kept in step with what
// they advise by the tests of internal/cli that follow them.
func TestRuleFixesWork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule    string
		want    []string // each must be in the fix
		notWant []string // none may be
	}{
		// certs renew keeps the SANs a certificate has, so it cannot add
		// the default names; a cluster with other settings is linted
		// with them.
		{RuleAPIServerDefaultNames, []string{"--service-cidr", "--service-dns-domain", "move apiserver.crt and apiserver.key aside", "kubepki init"},
			[]string{"(kubepki certs renew apiserver)"}},
		// certs renew does not renew kubelet.conf, as kubeadm's.
		{RuleValidity, []string{"kubepki certs renew NAME", "kubelet.conf", "rotateCertificates", "kubepki init"}, nil},
		// kubepki init alone makes sa.pub again from sa.key; a new sa.key
		// invalidates every service-account token.
		{RuleMissingPair, []string{"sa.pub is made again from sa.key", "keep sa.key"}, []string{"remove the other half too"}},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			t.Parallel()
			fix := ruleByID(tc.rule).Fix
			for _, w := range tc.want {
				if !strings.Contains(fix, w) {
					t.Errorf("fix of %s = %q, want it to contain %q", tc.rule, fix, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(fix, w) {
					t.Errorf("fix of %s = %q, want it without %q", tc.rule, fix, w)
				}
			}
		})
	}
}
