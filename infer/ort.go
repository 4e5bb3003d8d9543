package infer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibraryEnv names the environment variable that points edged at a libonnxruntime.so.
const LibraryEnv = "EDGED_ORT_LIB"

const libraryName = "libonnxruntime.so.1"

var (
	initOnce sync.Once
	initErr  error
	initPath string
)

// Init loads ONNX Runtime once per process. path may be empty: then EDGED_ORT_LIB, the
// install location next to the binary (../lib/edged/) and /usr/lib/edged/ are tried in that
// order (see FindLibrary). Later calls return the first call's result.
func Init(path string) error {
	initOnce.Do(func() {
		p, err := FindLibrary(path)
		if err != nil {
			initErr = err
			return
		}
		ort.SetSharedLibraryPath(p)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("%w: load %s: %v", ErrRuntime, p, err)
			return
		}
		initPath = p
	})
	return initErr
}

// LibraryPath returns the library Init loaded, or "" before a successful Init.
func LibraryPath() string { return initPath }

// RuntimeVersion returns the version the loaded ONNX Runtime library reports (e.g. 1.24.1),
// or "" before a successful Init.
func RuntimeVersion() string {
	if initPath == "" {
		return ""
	}
	return ort.GetVersion()
}

// SystemLibraryDir is where a packaged edged keeps its ONNX Runtime.
const SystemLibraryDir = "/usr/lib/edged"

// FindLibrary resolves the ONNX Runtime library path as Init does, without loading it. Only
// trusted places are looked at: path (the config key onnxruntime_lib), $EDGED_ORT_LIB, the
// installed location next to the binary (<exe>/../lib/edged/) and /usr/lib/edged/. Loading a
// library runs its code, so nothing relative to the working directory or a source checkout
// is searched: a checkout's third_party/onnxruntime/ is passed explicitly (the Makefile
// exports EDGED_ORT_LIB; tests get it from internal/testenv).
func FindLibrary(path string) (string, error) {
	var tried []string
	candidates := []string{path, os.Getenv(LibraryEnv)}
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "..", "lib", "edged", libraryName))
	}
	candidates = append(candidates, filepath.Join(SystemLibraryDir, libraryName))
	for i, c := range candidates {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err == nil {
			return c, nil
		} else if i < 2 {
			// An explicit choice that does not exist is an error, not a reason to fall back.
			return "", fmt.Errorf("%w: library %s: %v", ErrRuntime, c, errors.Unwrap(err))
		}
		tried = append(tried, c)
	}
	return "", fmt.Errorf("%w: %s not found (set %s or the config key onnxruntime_lib; run `make deps` to fetch it); tried %v",
		ErrRuntime, libraryName, LibraryEnv, tried)
}
