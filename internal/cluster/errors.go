package cluster

import (
	"errors"
	"fmt"
)

var (
	// ErrExternalCA is returned when a file must be signed by a CA whose
	// key file is absent (kubeadm's external-CA mode): kubepki can check
	// such files but not create or renew them.
	ErrExternalCA = errors.New("CA key is absent (external CA)")
	// ErrUnknownName is returned by Renew for a name that is not in the
	// plan.
	ErrUnknownName = errors.New("no such certificate or kubeconfig in the plan")
	// ErrKubeadmConfig is returned by ParseClusterFile for a kubeadm
	// configuration file (apiVersion kubeadm.k8s.io/*), which kubepki does
	// not read: its own cluster file has the settings that matter.
	ErrKubeadmConfig = errors.New("kubeadm configuration files are not read")
	// ErrNothingToRenew is returned by Renew of "all" when the folders
	// hold none of the plan's certificates and kubeconfigs.
	ErrNothingToRenew = errors.New("nothing to renew")
	// ErrNoEmbeddedCert is returned when a kubeconfig's current user does
	// not embed its client certificate, so it cannot be checked or renewed.
	ErrNoEmbeddedCert = errors.New("kubeconfig does not have an embedded client certificate")
)

// MismatchError is returned when an existing file does not match the plan
// and Force is not set: a certificate signed by another CA, with another
// subject, missing SANs, expired, a key that does not belong to it, or a
// file that does not parse.
type MismatchError struct {
	// File is the path of the file at fault.
	File string
	// Problem says what is wrong, as a phrase following the file name.
	Problem string
	// Fix says what to do; empty means the generic advice.
	Fix string
	// Err, if set, is the condition callers test with errors.Is, such as
	// [ErrNoEmbeddedCert].
	Err error
}

// Unwrap returns e.Err.
func (e *MismatchError) Unwrap() error { return e.Err }

func (e *MismatchError) Error() string {
	fix := e.Fix
	if fix == "" {
		fix = "restore the original, remove it so that it is made again, or rerun with --force to replace it"
	}
	return fmt.Sprintf("%s %s; %s", e.File, e.Problem, fix)
}

// BusyError is returned when another process holds the lock of the
// certificate folder: a kubepki init, renew or issue is working on it.
type BusyError struct {
	// Dir is the certificate folder.
	Dir string
	// PID is the other process's ID as it wrote it in the lock file, or
	// 0 when unknown.
	PID int
}

func (e *BusyError) Error() string {
	pid := ""
	if e.PID > 0 {
		pid = fmt.Sprintf(" (pid %d)", e.PID)
	}
	return fmt.Sprintf("another kubepki is working on %s%s: wait for it to finish, then run this again", e.Dir, pid)
}
