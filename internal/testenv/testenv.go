// Package testenv finds what tests need outside the package folder: the module root and the
// real recordings in ../shared/testdata/iq-real, which stay outside the repository because
// their licences are mixed.
package testenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ModuleRoot walks up from the working directory to the folder holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// IQRealEnv names a folder holding the real recordings, for a checkout that does not sit
// beside ../shared (a git worktree elsewhere). Not EDGED_*: the daemon the end-to-end tests
// start reads every EDGED_ variable as a configuration key.
const IQRealEnv = "IQ_REAL_DIR"

// IQRealDir returns ../shared/testdata/iq-real beside the module root (or $IQ_REAL_DIR), or
// skips the test, saying so, when the recordings are not there.
func IQRealDir(t testing.TB) string {
	t.Helper()
	real, err := lookupIQReal(t)
	if err != nil {
		t.Skipf("SKIPPED: real IQ recordings not present at %s (see its MANIFEST.md): %v", real, err)
	}
	return real
}

// IQRealPath returns the real recordings' folder and whether it is there, for tests that
// use a real recording when they can and a synthetic one otherwise.
func IQRealPath(t testing.TB) (string, bool) {
	t.Helper()
	real, err := lookupIQReal(t)
	return real, err == nil
}

func lookupIQReal(t testing.TB) (string, error) {
	real := os.Getenv(IQRealEnv)
	if real == "" {
		real = filepath.Join(ModuleRoot(t), "..", "shared", "testdata", "iq-real")
	}
	_, err := os.Stat(filepath.Join(real, "MANIFEST.md"))
	return real, err
}

// RestartablePort finds an unused 127.0.0.1 TCP port below the kernel's ephemeral range,
// for a test server that stops and listens again on the same port: a port from that range
// could be taken as the source port of some outgoing connection while the server is down,
// and it could then not bind it again.
func RestartablePort() (int, error) {
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for i := 0; i < 200; i++ {
		p := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in 10000-%d after 200 tries", low)
}

// FreeAddr is a loopback address nothing listened on at the time of the call: for a server
// a test starts in another process, which must bind it itself.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Eventually polls cond every few milliseconds until it holds, and returns when it did; it
// fails the test, naming what, if cond still does not hold after limit. For waiting on a
// state that has no event to wait on (a counter, a server's answer).
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	return time.Now()
}

// ortLibrary is where `make deps` puts ONNX Runtime in a checkout; ortEnv is infer.LibraryEnv
// (not imported: infer's own tests use this package).
const (
	ortLibrary = "third_party/onnxruntime/libonnxruntime.so.1"
	ortEnv     = "EDGED_ORT_LIB"
)

// ORTLibrary returns the ONNX Runtime library tests load: $EDGED_ORT_LIB when it is set,
// else the checkout's third_party/onnxruntime/libonnxruntime.so.1 (fetched by `make deps`).
func ORTLibrary() (string, error) {
	if lib := os.Getenv(ortEnv); lib != "" {
		return lib, nil
	}
	dir, err := moduleRoot()
	if err != nil {
		return "", err
	}
	lib := filepath.Join(dir, ortLibrary)
	if !fileExists(lib) {
		return "", errors.New(lib + " not found: run `make deps`")
	}
	return lib, nil
}

// SetORTLibrary points EDGED_ORT_LIB at ORTLibrary for this test process and every binary
// it runs. edged itself never searches a source checkout for code to load, so tests pass
// the library explicitly; call this from TestMain. When no library is found nothing is
// set, and the tests that need one fail with infer's message saying so.
func SetORTLibrary() {
	if lib, err := ORTLibrary(); err == nil {
		os.Setenv(ortEnv, lib)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
