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
// install location next to the binary (../lib/edged/) and the repository's third_party/
// folder are tried in that order. Later calls return the first call's result.
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

// FindLibrary resolves the ONNX Runtime library path as Init does, without loading it.
func FindLibrary(path string) (string, error) {
	var tried []string
	candidates := []string{path, os.Getenv(LibraryEnv)}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		candidates = append(candidates,
			filepath.Join(dir, "..", "lib", "edged", libraryName),
			filepath.Join(dir, "..", "third_party", "onnxruntime", libraryName))
	}
	if wd, err := os.Getwd(); err == nil {
		// Tests run in package folders; walk up to the module root's third_party/.
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				candidates = append(candidates, filepath.Join(d, "third_party", "onnxruntime", libraryName))
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
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
