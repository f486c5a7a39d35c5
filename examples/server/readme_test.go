package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's configuration table names every flag of the server and
// every environment variable it reads: a flag added without its row is a
// setting nobody finds (-audit was, once).
func TestREADMEConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	var usage bytes.Buffer
	_, err = parseFlags([]string{"-h"}, &usage)
	require.Error(t, err, "-h prints the usage")
	flags := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(usage.String(), -1)
	require.Greater(t, len(flags), 20, "the usage lists the flags:\n%s", usage.String())
	for _, f := range flags {
		require.True(t, bytes.Contains(readme, []byte("| `-"+f[1]+"` |")), "README's configuration table has no row for -%s", f[1])
	}
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	envs := regexp.MustCompile(`"(CARDVAULT_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1)
	require.NotEmpty(t, envs)
	for _, e := range envs {
		require.True(t, strings.Contains(string(readme), "`"+e[1]+"`"), "README does not name %s", e[1])
	}
}
