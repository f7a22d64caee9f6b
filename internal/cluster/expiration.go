package cluster

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/kubepki/kubepki/internal/pki"
)

// The apiVersion and kind of [ExpirationInfo] in -o json|yaml, kubeadm's.
const (
	ExpirationInfoAPIVersion = "output.kubeadm.k8s.io/v1alpha3"
	ExpirationInfoKind       = "CertificateExpirationInfo"
)

// ExpirationInfo is kubeadm's CertificateExpirationInfo: one entry per
// certificate (including those embedded in kubeconfig files) and per CA,
// sorted by name.
type ExpirationInfo struct {
	APIVersion             string           `json:"apiVersion"`
	Kind                   string           `json:"kind"`
	Certificates           []CertExpiration `json:"certificates"`
	CertificateAuthorities []CertExpiration `json:"certificateAuthorities"`
}

// CertExpiration is one row of [ExpirationInfo].
type CertExpiration struct {
	// Name is the plan name ("apiserver", "admin.conf", "etcd-ca").
	Name string `json:"name"`
	// ExpirationDate is the certificate's NotAfter; null when Missing,
	// as kubeadm writes it (a metav1.Time).
	ExpirationDate metav1.Time `json:"expirationDate"`
	// ResidualTime is NotAfter minus now, in seconds (negative when
	// expired).
	ResidualTime int64 `json:"residualTime"`
	// ExternallyManaged reports whether the signing CA's key is absent
	// (for a CA row: its own key).
	ExternallyManaged bool `json:"externallyManaged"`
	// CAName is the signing CA of a certificate row.
	CAName string `json:"caName,omitempty"`
	// Missing reports whether the file does not exist.
	Missing bool `json:"missing"`
}

// Residual returns the residual time as a duration.
func (c CertExpiration) Residual() time.Duration { return time.Duration(c.ResidualTime) * time.Second }

// HumanResidual formats the residual time as kubeadm v1.31+ does
// (apimachinery's duration.HumanDuration: "364d", "9y", "<invalid>").
func (c CertExpiration) HumanResidual() string { return duration.HumanDuration(c.Residual()) }

// placeholders fill the node-specific options that checking and renewing
// do not need (they read subjects and SANs from the existing files), so
// that those work on any machine.
func withPlaceholders(opts Options) Options {
	if opts.AdvertiseAddress == "" {
		opts.AdvertiseAddress = "127.0.0.1"
	}
	if ValidateNodeName(opts.NodeName) != nil {
		opts.NodeName = "localhost"
	}
	return opts
}

// CheckExpiration reads every certificate of the plan of opts (kubeadm's
// set, plus the nodes, kube-proxy and users of opts) and every kubeconfig
// except kubelet.conf, and reports when each expires, as "kubeadm certs
// check-expiration" does. Missing files are rows with Missing set; files
// that do not parse are an error naming the file. Only the folders, the
// node and user lists and the clock of opts matter.
func CheckExpiration(opts Options) (*ExpirationInfo, error) {
	p, err := NewPlan(withPlaceholders(opts))
	if err != nil {
		return nil, err
	}
	return p.CheckExpiration()
}

// CheckExpiration is [CheckExpiration] on a resolved plan.
func (p *Plan) CheckExpiration() (*ExpirationInfo, error) {
	info := &ExpirationInfo{APIVersion: ExpirationInfoAPIVersion, Kind: ExpirationInfoKind,
		Certificates: []CertExpiration{}, CertificateAuthorities: []CertExpiration{}}
	external := map[string]bool{}
	for _, ca := range p.CAs {
		external[ca.Name] = !exists(p.CertPath(ca.BaseName, keySuffix))
		row := CertExpiration{Name: ca.Name, ExternallyManaged: external[ca.Name]}
		if err := p.fillRow(&row, p.CertPath(ca.BaseName, certSuffix), false); err != nil {
			return nil, err
		}
		info.CertificateAuthorities = append(info.CertificateAuthorities, row)
	}
	for _, c := range p.Certs {
		row := CertExpiration{Name: c.Name, CAName: c.CA, ExternallyManaged: external[c.CA]}
		if err := p.fillRow(&row, p.CertPath(c.BaseName, certSuffix), false); err != nil {
			return nil, err
		}
		info.Certificates = append(info.Certificates, row)
	}
	for _, k := range p.Kubeconfigs {
		if !k.Expiration {
			continue
		}
		row := CertExpiration{Name: k.Name, CAName: CAName, ExternallyManaged: external[CAName]}
		if err := p.fillRow(&row, p.KubeconfigPath(k.Name), true); err != nil {
			return nil, err
		}
		info.Certificates = append(info.Certificates, row)
	}
	byName := func(a, b CertExpiration) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(info.Certificates, byName)
	slices.SortFunc(info.CertificateAuthorities, byName)
	return info, nil
}

func (p *Plan) fillRow(row *CertExpiration, path string, isKubeconfig bool) error {
	if !exists(path) {
		row.Missing = true
		return nil
	}
	var notAfter time.Time
	if isKubeconfig {
		e, err := readEmbedded(path)
		if mm, ok := errors.AsType[*MismatchError](err); ok {
			mm.Fix = p.unreadableKubeconfigFix(path, errors.Is(err, ErrNoEmbeddedCert))
		}
		if err != nil {
			return err
		}
		notAfter = e.cert.NotAfter
	} else {
		cert, err := pki.ReadCertificateFile(path)
		if err != nil {
			return fmt.Errorf("%w; restore it from a backup (renew needs the certificate it replaces)", err)
		}
		notAfter = cert.NotAfter
	}
	row.ExpirationDate = metav1.NewTime(notAfter.UTC())
	row.ResidualTime = int64(notAfter.Sub(p.Start) / time.Second)
	return nil
}

// unreadableKubeconfigFix is the advice of check-expiration, which has
// no --force, for a kubeconfig whose client certificate it cannot read.
func (p *Plan) unreadableKubeconfigFix(path string, notEmbedded bool) string {
	backup := filepath.Join(p.KubeconfigDir, "tmp", "kubepki-backup-*")
	if notEmbedded {
		return fmt.Sprintf("check-expiration and renew read the client certificate embedded in the file (client-certificate-data), as kubeadm's do: "+
			"embed it with \"kubepki config set-credentials USER --client-certificate FILE --client-key FILE --embed-certs --kubeconfig %s\", "+
			"or restore the file from a backup (%s)", path, backup)
	}
	return fmt.Sprintf("restore it from a backup (%s), or move it aside and rerun \"kubepki init\", which makes it again", backup)
}

// ExpiringWithin returns the rows (certificates and CAs) that are missing
// or expire within d of now.
func (info *ExpirationInfo) ExpiringWithin(d time.Duration) []CertExpiration {
	var out []CertExpiration
	for _, rows := range [][]CertExpiration{info.Certificates, info.CertificateAuthorities} {
		for _, r := range rows {
			if r.Missing || r.Residual() < d {
				out = append(out, r)
			}
		}
	}
	return out
}
