package kubeconfig

import (
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/homedir"
)

// HomeFile returns ~/.kube/config for the current $HOME, computed when
// called (clientcmd's RecommendedHomeFile is fixed at program start).
func HomeFile() string {
	return filepath.Join(homedir.HomeDir(), clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
}

// PathOptions returns kubectl's config access for "kubectl config"
// commands: only explicitPath when it is non-empty (--kubeconfig), else the
// $KUBECONFIG list, else ~/.kube/config. Paths inside the files are not
// resolved, so they are displayed and written back as written. Reads and
// writes through the result follow kubectl's rules, including which file a
// change goes to ([clientcmd.ModifyConfig]).
func PathOptions(explicitPath string) *clientcmd.PathOptions {
	rules := LoadingRules(explicitPath)
	rules.DoNotResolvePaths = true
	return &clientcmd.PathOptions{
		GlobalFile:        HomeFile(),
		EnvVar:            clientcmd.RecommendedConfigPathEnvVar,
		ExplicitFileFlag:  clientcmd.RecommendedConfigPathFlag,
		GlobalFileSubpath: filepath.Join(clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName),
		LoadingRules:      rules,
	}
}

// LoadingRules returns kubectl's loading rules for the current environment:
// explicitPath alone when non-empty, else the deduplicated $KUBECONFIG list
// (missing files skipped), else ~/.kube/config. Relative paths in the files
// are resolved against each file's directory.
func LoadingRules(explicitPath string) *clientcmd.ClientConfigLoadingRules {
	var chain []string
	warn := false
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		seen := map[string]bool{}
		for _, p := range filepath.SplitList(env) {
			if p != "" && !seen[p] {
				seen[p] = true
				chain = append(chain, p)
			}
		}
		warn = true
	} else {
		chain = []string{HomeFile()}
	}
	return &clientcmd.ClientConfigLoadingRules{
		ExplicitPath:     explicitPath,
		Precedence:       chain,
		WarnIfAllMissing: warn,
	}
}

// ClientConfig returns the client configuration kubectl would use with
// --kubeconfig explicitPath and --context contextName (either may be
// empty): the merged files, the chosen context, its cluster and user.
func ClientConfig(explicitPath, contextName string) clientcmd.ClientConfig {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		LoadingRules(explicitPath),
		&clientcmd.ConfigOverrides{CurrentContext: contextName},
	)
}
