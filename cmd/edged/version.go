package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/heimdall/edged/infer"
)

// Stamped at link time by scripts/build.sh (-ldflags -X): `git describe` and the full commit
// id. A plain `go build` leaves them empty and version falls back to Go's build info.
var (
	buildVersion string
	buildCommit  string
)

// version is edged's version and commit: the stamped ones, else what the Go toolchain recorded
// ("(devel)" and the VCS revision for a build inside a checkout).
func version() (v, commit string) {
	v, commit = buildVersion, buildCommit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if commit == "" && s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	if v == "" {
		v = "(unknown)"
	}
	if commit == "" {
		commit = "unknown"
	}
	return v, commit
}

// runVersion prints edged's version and commit, the Go release it was built with, and the
// version of the ONNX Runtime library it loads with this configuration, one `key value` a
// line. A library that does not load is an error (exit 1): the install is broken.
func runVersion(args []string) error {
	fs := newFlags("version", "[-config FILE]")
	path := fs.String("config", os.Getenv("EDGED_CONFIG"), "YAML config `FILE` whose onnxruntime_lib to load (default: the embedded defaults)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	v, commit := version()
	fmt.Printf("edged %s\ncommit %s\ngo %s %s/%s\n", v, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if err := infer.Init(cfg.OnnxRuntimeLib); err != nil {
		fmt.Println("onnxruntime not loaded")
		return err
	}
	fmt.Printf("onnxruntime %s %s\n", infer.RuntimeVersion(), infer.LibraryPath())
	return nil
}

// versionString is the version and, when known, the commit, as the status page shows them.
func versionString() string {
	v, commit := version()
	if commit != "" {
		v += " " + commit
	}
	return v
}
