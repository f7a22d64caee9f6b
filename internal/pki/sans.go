package pki

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"
)

// SANs are the subject alternative names of a certificate or request.
type SANs struct {
	DNSNames       []string
	IPAddresses    []net.IP
	URIs           []*url.URL
	EmailAddresses []string
}

// IsEmpty reports whether s holds no name at all.
func (s SANs) IsEmpty() bool {
	return len(s.DNSNames) == 0 && len(s.IPAddresses) == 0 && len(s.URIs) == 0 && len(s.EmailAddresses) == 0
}

// Strings returns s in the form ParseSANs reads, DNS first, then IP, URI
// and email.
func (s SANs) Strings() []string {
	var out []string
	for _, d := range s.DNSNames {
		out = append(out, "DNS:"+d)
	}
	for _, ip := range s.IPAddresses {
		out = append(out, "IP:"+ip.String())
	}
	for _, u := range s.URIs {
		out = append(out, "URI:"+u.String())
	}
	for _, e := range s.EmailAddresses {
		out = append(out, "email:"+e)
	}
	return out
}

// ParseSANs parses names in openssl's subjectAltName form: "DNS:host",
// "IP:10.0.0.1", "URI:spiffe://cluster/x", "email:a@example.com". Each spec
// may hold several comma-separated names. A name without a prefix is an IP
// address if it parses as one and a DNS name otherwise. DNS names are
// lower-cased, checked as RFC 1123 names (a leading "*." wildcard label is
// allowed) and, like IPs, de-duplicated in order.
func ParseSANs(specs []string) (SANs, error) {
	var s SANs
	for _, spec := range specs {
		for _, item := range strings.Split(spec, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if err := s.add(item); err != nil {
				return SANs{}, err
			}
		}
	}
	return s, nil
}

func (s *SANs) add(item string) error {
	kind, val, ok := strings.Cut(item, ":")
	if ok {
		switch strings.ToUpper(kind) {
		case "DNS":
			return s.addDNS(val)
		case "IP":
			ip := net.ParseIP(val)
			if ip == nil {
				return fmt.Errorf("SAN %q: %q is not an IP address", item, val)
			}
			s.addIP(ip)
			return nil
		case "URI":
			u, err := url.Parse(val)
			if err != nil || u.Scheme == "" {
				return fmt.Errorf("SAN %q: not an absolute URI", item)
			}
			s.URIs = append(s.URIs, u)
			return nil
		case "EMAIL":
			a, err := mail.ParseAddress(val)
			if err != nil || a.Address != val {
				return fmt.Errorf("SAN %q: not an e-mail address", item)
			}
			s.EmailAddresses = append(s.EmailAddresses, val)
			return nil
		}
	}
	// No known prefix: an IP (including IPv6, which has colons) or a name.
	if ip := net.ParseIP(item); ip != nil {
		s.addIP(ip)
		return nil
	}
	if ok {
		return fmt.Errorf("SAN %q: unknown kind %q, use DNS:, IP:, URI: or email:", item, kind)
	}
	return s.addDNS(item)
}

func (s *SANs) addDNS(name string) error {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if net.ParseIP(name) != nil {
		return fmt.Errorf("SAN DNS:%s is an IP address: write IP:%s so clients can match it", name, name)
	}
	if err := checkDNSName(name); err != nil {
		return fmt.Errorf("SAN DNS:%s: %w", name, err)
	}
	if !slices.Contains(s.DNSNames, name) {
		s.DNSNames = append(s.DNSNames, name)
	}
	return nil
}

func (s *SANs) addIP(ip net.IP) {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	for _, have := range s.IPAddresses {
		if have.Equal(ip) {
			return
		}
	}
	s.IPAddresses = append(s.IPAddresses, ip)
}

// checkDNSName checks an RFC 1123 subdomain with an optional leading
// wildcard label.
func checkDNSName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if len(name) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if l == "*" && i == 0 && len(labels) > 1 {
			continue
		}
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q must be 1 to 63 characters", l)
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
			if !alnum && !(c == '-' && j > 0 && j < len(l)-1) {
				return fmt.Errorf("label %q: only a-z, 0-9 and inner '-' are allowed", l)
			}
		}
	}
	return nil
}
