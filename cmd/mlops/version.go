package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

// codeVersion returns the VCS revision the binary was built from, or the
// module version, or "devel".
func codeVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return "devel"
}

func versionCommand(_ context.Context, _ []string, stdout, _ io.Writer) error {
	_, err := fmt.Fprintln(stdout, "mlops", codeVersion())
	return err
}
