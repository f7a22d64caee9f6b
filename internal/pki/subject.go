package pki

import (
	"crypto/x509/pkix"
	"fmt"
	"strings"
)

// ParseSubject parses a distinguished name in openssl's -subj form,
// "/CN=jane/O=dev/O=ops/OU=team/C=DE/ST=Berlin/L=Berlin". Attributes may
// repeat (several O values become several groups); "\/" escapes a slash.
// Recognised keys: CN, O, OU, C, ST, L, STREET, POSTALCODE, SERIALNUMBER.
// An empty string is the empty name.
func ParseSubject(s string) (pkix.Name, error) {
	var n pkix.Name
	s = strings.TrimSpace(s)
	if s == "" {
		return n, nil
	}
	if !strings.HasPrefix(s, "/") {
		return n, fmt.Errorf("subject %q must start with \"/\", as in \"/CN=jane/O=developers\"", s)
	}
	parts, err := splitSubject(s[1:])
	if err != nil {
		return n, err
	}
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return pkix.Name{}, fmt.Errorf("subject attribute %q is not KEY=VALUE", p)
		}
		if v == "" {
			return pkix.Name{}, fmt.Errorf("subject attribute %s has an empty value", k)
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return pkix.Name{}, fmt.Errorf("subject attribute %s contains a control character", k)
			}
		}
		switch strings.ToUpper(k) {
		case "CN":
			if n.CommonName != "" {
				return pkix.Name{}, fmt.Errorf("subject has more than one CN")
			}
			n.CommonName = v
		case "O":
			n.Organization = append(n.Organization, v)
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, v)
		case "C":
			n.Country = append(n.Country, v)
		case "ST":
			n.Province = append(n.Province, v)
		case "L":
			n.Locality = append(n.Locality, v)
		case "STREET":
			n.StreetAddress = append(n.StreetAddress, v)
		case "POSTALCODE":
			n.PostalCode = append(n.PostalCode, v)
		case "SERIALNUMBER":
			n.SerialNumber = v
		default:
			return pkix.Name{}, fmt.Errorf("unknown subject attribute %q: use CN, O, OU, C, ST, L, STREET, POSTALCODE or SERIALNUMBER", k)
		}
	}
	return n, nil
}

func splitSubject(s string) ([]string, error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '\\':
			return nil, fmt.Errorf("subject ends with a lone backslash")
		case c == '/':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		parts = append(parts, cur.String())
	}
	return parts, nil
}

// FormatSubject writes n in the form ParseSubject reads.
func FormatSubject(n pkix.Name) string {
	var b strings.Builder
	add := func(k string, vs ...string) {
		for _, v := range vs {
			b.WriteString("/" + k + "=" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "/", `\/`))
		}
	}
	add("C", n.Country...)
	add("ST", n.Province...)
	add("L", n.Locality...)
	add("STREET", n.StreetAddress...)
	add("POSTALCODE", n.PostalCode...)
	add("O", n.Organization...)
	add("OU", n.OrganizationalUnit...)
	if n.SerialNumber != "" {
		add("SERIALNUMBER", n.SerialNumber)
	}
	if n.CommonName != "" {
		add("CN", n.CommonName)
	}
	return b.String()
}
