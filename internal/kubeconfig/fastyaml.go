package kubeconfig

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// MarshalCertConfig returns Marshal(NewCertConfig(...)), byte for byte.
// When every name and the server URL are plain YAML scalars and no PEM is
// empty (the usual
// case: kubeadm's names, host names, IP addresses) it writes the YAML
// directly, which costs a small fraction of clientcmd's encoding (JSON,
// then YAML through a parse of that JSON); any other string goes through
// clientcmd. The caller owns the returned bytes, key material included.
func MarshalCertConfig(clusterName, server string, caPEM []byte, userName string, certPEM, keyPEM []byte) ([]byte, error) {
	ctxName := ContextName(userName, clusterName)
	if len(caPEM) == 0 || len(certPEM) == 0 || len(keyPEM) == 0 || // clientcmd omits empty fields
		!plainScalar(clusterName) || !plainScalar(userName) || !plainScalar(ctxName) || !plainScalar(server) {
		cfg := NewCertConfig(clusterName, server, caPEM, userName, certPEM, keyPEM)
		defer clear(cfg.AuthInfos[userName].ClientKeyData)
		return Marshal(cfg)
	}
	enc := base64.StdEncoding
	var b bytes.Buffer
	b.Grow(320 + len(clusterName)*3 + len(userName)*4 + len(server) +
		enc.EncodedLen(len(caPEM)) + enc.EncodedLen(len(certPEM)) + enc.EncodedLen(len(keyPEM)))
	data := func(p []byte) {
		n := b.Len()
		b.Write(make([]byte, enc.EncodedLen(len(p))))
		enc.Encode(b.Bytes()[n:], p)
	}
	b.WriteString("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: ")
	data(caPEM)
	b.WriteString("\n    server: " + server + "\n  name: " + clusterName +
		"\ncontexts:\n- context:\n    cluster: " + clusterName + "\n    user: " + userName +
		"\n  name: " + ctxName + "\ncurrent-context: " + ctxName +
		"\nkind: Config\nusers:\n- name: " + userName + "\n  user:\n    client-certificate-data: ")
	data(certPEM)
	b.WriteString("\n    client-key-data: ")
	data(keyPEM)
	b.WriteString("\n")
	return b.Bytes(), nil
}

// yamlKeywords are plain scalars that YAML 1.1 resolves to booleans or
// null, which the YAML encoder therefore quotes.
var yamlKeywords = map[string]bool{
	"y": true, "yes": true, "n": true, "no": true, "true": true, "false": true,
	"on": true, "off": true, "null": true,
}

// plainScalar reports whether s certainly needs no quoting in block YAML:
// it starts with a letter, holds only letters, digits and . _ - : @ /,
// does not end with ':' and is no YAML keyword. It is conservative: a
// string it refuses may still be plain, and then only costs the slow path.
func plainScalar(s string) bool {
	if s == "" || yamlKeywords[strings.ToLower(s)] || s[len(s)-1] == ':' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i == 0:
			return false
		case '0' <= c && c <= '9', c == '.', c == '_', c == '-', c == ':', c == '@', c == '/':
		default:
			return false
		}
	}
	return true
}
