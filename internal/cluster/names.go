package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ValidateNodeName reports whether name can be a Kubernetes node name: a
// DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253
// characters). Upper case is refused with the lower-case name to use, since
// the kubelet lower-cases the host name and a certificate for
// system:node:Worker1 would never match node worker1.
func ValidateNodeName(name string) error {
	if name == "" {
		return errors.New("node name is empty: pass the node's name (--node-name)")
	}
	if strings.ToLower(name) != name {
		return fmt.Errorf("node name %q has upper-case letters; Kubernetes node names are lower case: use %q", name, strings.ToLower(name))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("node name %q is invalid: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// ValidateUserName reports whether name can be a user name that kubepki
// also uses as a file name (users/<name>.conf): not empty, no '/' or '\',
// no control characters or spaces at the ends, not "." or "..".
func ValidateUserName(name string) error {
	switch {
	case name == "":
		return errors.New("user name is empty: give the user a name")
	case name == "." || name == ".." || strings.ContainsAny(name, `/\`):
		return fmt.Errorf("user name %q cannot be used as a file name: leave out '/', '\\' and dot-only names", name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("user name %q starts or ends with white space: remove it", name)
	case len(name) > 253:
		return fmt.Errorf("user name %.20q... is longer than 253 characters", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("user name %q has a control character: remove it", name)
		}
	}
	return nil
}

// validateNode checks a node's name, IPs and DNS names.
func validateNode(n Node) error {
	if err := ValidateNodeName(n.Name); err != nil {
		return err
	}
	for _, s := range n.IPs {
		if ip := net.ParseIP(s); ip == nil || ip.IsUnspecified() {
			return fmt.Errorf("node %s: %q is not a usable IP address", n.Name, s)
		}
	}
	for _, s := range n.DNSNames {
		if !isDNSName(s) && !isWildcardDNSName(s) {
			return fmt.Errorf("node %s: %q is not a valid DNS name", n.Name, s)
		}
	}
	return nil
}

func isDNSName(s string) bool         { return len(validation.IsDNS1123Subdomain(s)) == 0 }
func isWildcardDNSName(s string) bool { return len(validation.IsWildcardDNS1123Subdomain(s)) == 0 }

// sortedDNS de-duplicates and sorts DNS names, as kubeadm's sets.Set does.
func sortedDNS(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

// uniqueIPs de-duplicates IPs keeping the first occurrence's position.
func uniqueIPs(ips []net.IP) []net.IP {
	var out []net.IP
	for _, ip := range ips {
		if ip == nil {
			continue
		}
		if !slices.ContainsFunc(out, ip.Equal) {
			out = append(out, normalIP(ip))
		}
	}
	return out
}

// normalIP returns IPv4 addresses in their 4-byte form, so that they
// compare and encode as x509 does.
func normalIP(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

// firstServiceIP returns the first usable address (index 1) of the first
// CIDR of a comma-separated list, kubeadm's apiserver service IP.
func firstServiceIP(cidrs string) (net.IP, error) {
	first, _, _ := strings.Cut(cidrs, ",")
	_, n, err := net.ParseCIDR(strings.TrimSpace(first))
	if err != nil {
		return nil, fmt.Errorf("service CIDR %q is not a CIDR such as %q: %w", cidrs, DefaultServiceCIDR, err)
	}
	ip := normalIP(bytes.Clone(n.IP))
	for i := len(ip) - 1; i >= 0; i-- {
		ip[i]++
		if ip[i] != 0 {
			break
		}
	}
	if !n.Contains(ip) {
		return nil, fmt.Errorf("service CIDR %q has no usable address: use a larger subnet", cidrs)
	}
	return ip, nil
}

// splitEndpoint splits a control-plane endpoint "host[:port]" (IPv6 in
// brackets when a port is given). Port 0 means none was given.
func splitEndpoint(ep string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(ep)
	if err != nil {
		// No port: the whole string is the host (bare IPv6 allowed).
		host, portStr = strings.Trim(ep, "[]"), ""
	}
	port := 0
	if portStr != "" {
		port, err = strconv.Atoi(portStr)
		if err != nil || port < 1 || port > 65535 {
			return "", 0, fmt.Errorf("control-plane endpoint %q has an invalid port: use host:port with a port in 1-65535", ep)
		}
	}
	if net.ParseIP(host) == nil && !isDNSName(host) {
		return "", 0, fmt.Errorf("control-plane endpoint %q: %q is neither an IP address nor a DNS name", ep, host)
	}
	return host, port, nil
}

// defaultAddress returns the first global unicast IPv4 (else IPv6) address
// of an interface that is up, as a stand-in for kubeadm's default-route
// address.
func defaultAddress() (net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("find this machine's address: %w; pass --advertise-address", err)
	}
	var v6 net.IP
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || !ipn.IP.IsGlobalUnicast() {
			continue
		}
		if v4 := ipn.IP.To4(); v4 != nil {
			return v4, nil
		}
		if v6 == nil {
			v6 = ipn.IP
		}
	}
	if v6 != nil {
		return v6, nil
	}
	return nil, errors.New("this machine has no global unicast address to advertise: pass --advertise-address")
}
