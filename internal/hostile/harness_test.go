package hostile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/testenv"
)

// Limits every case is held to.
const (
	// rssBudgetKB is the peak RSS a case may add to the process's idle RSS.
	rssBudgetKB = 128 << 10
	// hangAfter is how long a command may run before the case counts as a hang. Generous:
	// the host is shared and FFTW plans a large transform for seconds.
	hangAfter = 90 * time.Second
)

var (
	edgedBin string // built without the race detector, so that its RSS is the real one
	ortLib   string // passed explicitly, as an operator's config or environment would
	root     string // the module root, for testdata
)

// TestMain builds the binary into a folder of its own, with no ONNX Runtime beside it:
// every command is given the library through EDGED_ORT_LIB, except where a case checks
// where it is looked for.
func TestMain(m *testing.M) {
	var err error
	if ortLib, err = testenv.ORTLibrary(); err != nil {
		fmt.Fprintln(os.Stderr, "ONNX Runtime:", err)
		os.Exit(1)
	}
	os.Unsetenv("EDGED_ORT_LIB")
	dir, err := os.MkdirTemp("", "edged-hostile")
	if err != nil {
		panic(err)
	}
	edgedBin = filepath.Join(dir, "bin", "edged")
	wd, _ := os.Getwd()
	root = filepath.Join(wd, "..", "..")
	build := exec.Command("go", "build", "-tags", "rtlsdr", "-o", edgedBin, "../../cmd/edged")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build edged:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// outcome is how one run of the binary ended.
type outcome struct {
	code     int // exit status; -1 when killed by a signal
	signal   string
	stdout   string
	stderr   string
	maxRSSKB int64
	hung     bool
}

// run runs the binary with args in dir (the test's temp dir when empty), ONNX Runtime
// given through the environment unless env sets EDGED_ORT_LIB itself, and kills it after
// hangAfter.
func run(t *testing.T, dir string, env []string, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangAfter)
	defer cancel()
	cmd := exec.CommandContext(ctx, edgedBin, args...)
	if dir == "" {
		dir = t.TempDir()
	}
	cmd.Dir = dir
	cmd.Env = append(baseEnv(t), env...)
	if slices.Contains(env, noORTEnv) {
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "EDGED_ORT_LIB=") })
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	out := outcome{stdout: o.String(), stderr: e.String(), hung: ctx.Err() != nil}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			out.maxRSSKB = ru.Maxrss
		}
		out.code = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			out.signal = ws.Signal().String()
		}
	} else if err != nil {
		t.Fatalf("edged %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// noORTEnv in a case's env leaves EDGED_ORT_LIB out of its environment, for cases about
// where the library comes from.
const noORTEnv = "HOSTILE_NO_ORT_ENV=1"

// baseEnv is the environment every command starts from: ONNX Runtime, a private state
// directory and loopback port, no inherited EDGED_* keys.
func baseEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EDGED_") && !strings.HasPrefix(kv, "RUNTIME_DIRECTORY=") &&
			!strings.HasPrefix(kv, "STATE_DIRECTORY=") && !strings.HasPrefix(kv, "CREDENTIALS_DIRECTORY=") {
			env = append(env, kv)
		}
	}
	return append(env, "EDGED_ORT_LIB="+ortLib, "EDGED_STATE_DIR="+t.TempDir(), "EDGED_HTTP_LISTEN=127.0.0.1:0")
}

// crashed says whether the output shows the Go runtime giving up: a panic, a fatal error
// (stack overflow, out of memory, fault) or death by a signal.
func (o outcome) crashed() string {
	switch {
	case o.signal != "" && !o.hung:
		return "killed by " + o.signal
	case o.code == 2 && (strings.Contains(o.stderr, "panic:") || strings.Contains(o.stderr, "goroutine ")):
		return "panicked"
	case strings.Contains(o.stderr, "fatal error:"):
		return "fatal error"
	case strings.Contains(o.stderr, "panic:"):
		return "panicked"
	}
	return ""
}

// tally counts the suite's cases and prints one summary: tried, handled cleanly, crashes, hangs,
// and the worst peak RSS above idle.
type tally struct {
	mu        sync.Mutex
	tried     int
	clean     int
	crashes   []string
	hangs     []string
	unclean   []string
	worstKB   int64
	worstCase string
}

var suite tally

func (ta *tally) add(name string, clean bool, crash, hang string, aboveIdleKB int64) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.tried++
	if clean {
		ta.clean++
	} else {
		ta.unclean = append(ta.unclean, name)
	}
	if crash != "" {
		ta.crashes = append(ta.crashes, name+": "+crash)
	}
	if hang != "" {
		ta.hangs = append(ta.hangs, name)
	}
	if aboveIdleKB > ta.worstKB {
		ta.worstKB, ta.worstCase = aboveIdleKB, name
	}
}

func (ta *tally) summary() string {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	sort.Strings(ta.unclean)
	return fmt.Sprintf("hostile cases tried %d, handled cleanly %d, crashes %d, hangs %d; worst peak RSS above idle %.1f MB (%s)%s",
		ta.tried, ta.clean, len(ta.crashes), len(ta.hangs), float64(ta.worstKB)/1024, ta.worstCase,
		map[bool]string{true: "", false: "; not clean: " + strings.Join(ta.unclean, ", ")}[len(ta.unclean) == 0])
}

// cliCase is one command run against hostile input.
type cliCase struct {
	name string
	args []string
	env  []string
	// want is what stderr (or, for a command that succeeds, stdout) must say: the error
	// names the problem.
	want []string
	// exits are the statuses accepted: 1 (failure) and 78 (configuration) for input that
	// is refused; 0 when the command is expected to answer (inspect describes a bad model).
	exits []int
}

// check runs a case, checks it and adds it to the tally. idleKB is the same command's peak
// RSS on good input.
func (c cliCase) check(t *testing.T, dir string, idleKB int64) {
	t.Helper()
	o := run(t, dir, c.env, c.args...)
	crash, hang := o.crashed(), ""
	if o.hung {
		hang = "hung"
	}
	above := o.maxRSSKB - idleKB
	text := o.stdout + o.stderr
	var problems []string
	if crash != "" {
		problems = append(problems, crash)
	}
	if hang != "" {
		problems = append(problems, fmt.Sprintf("still running after %s", hangAfter))
	}
	if !slices.Contains(c.exits, o.code) && hang == "" {
		problems = append(problems, fmt.Sprintf("exit %d, want one of %v", o.code, c.exits))
	}
	for _, w := range c.want {
		if !strings.Contains(text, w) {
			problems = append(problems, fmt.Sprintf("output does not say %q", w))
		}
	}
	if above > rssBudgetKB {
		problems = append(problems, fmt.Sprintf("peak RSS %d MB above idle", above>>10))
	}
	suite.add(c.name, len(problems) == 0, crash, hang, above)
	t.Logf("peak RSS %+.1f MB from idle", float64(above)/1024)
	if len(problems) > 0 {
		t.Errorf("%s: %s\nedged %s\nstderr: %.2000s", c.name, strings.Join(problems, "; "), strings.Join(c.args, " "), o.stderr)
	}
}

// daemon is `edged run` started by a case, killed when the test ends.
type daemon struct {
	cmd    *exec.Cmd
	addr   string
	stderr *testenv.Buffer
	done   chan struct{}
	state  *os.ProcessState
}

var listening = regexp.MustCompile(`msg="http api listening" addr=(\S+)`)

// startDaemon runs `edged run -config` with config and waits until its API listens and
// /readyz answers 200; it fails the test otherwise.
func startDaemon(t *testing.T, config string, env ...string) *daemon {
	t.Helper()
	d, err := tryDaemon(t, config, env...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tryDaemon is startDaemon returning why the daemon did not come up (its stderr
// included) instead of failing. The daemon is killed when the test ends.
func tryDaemon(t *testing.T, config string, env ...string) (*daemon, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edged.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return nil, err
	}
	d := &daemon{stderr: new(testenv.Buffer), done: make(chan struct{})}
	d.cmd = exec.Command(edgedBin, "run", "-config", path)
	d.cmd.Env = append(baseEnv(t), env...)
	pr, pw := io.Pipe()
	d.cmd.Stderr = io.MultiWriter(d.stderr, pw)
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		d.cmd.Wait()
		d.state = d.cmd.ProcessState
		pw.Close()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
		if t.Failed() {
			t.Logf("edged stderr:\n%.6000s", d.stderr)
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case d.addr = <-addr:
	case <-d.done:
		return d, fmt.Errorf("edged exited before listening (%v): %s", d.state, d.stderr)
	case <-time.After(hangAfter):
		return d, fmt.Errorf("edged not listening after %s: %s", hangAfter, d.stderr)
	}
	deadline := time.Now().Add(hangAfter)
	for {
		if code, _ := d.get("/readyz"); code == http.StatusOK {
			return d, nil
		}
		if d.exited() {
			return d, fmt.Errorf("edged exited (%v): %s", d.state, d.stderr)
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("edged not ready after %s: %s", hangAfter, d.stderr)
		}
		time.Sleep(50 * time.Millisecond) // polling an external process: no event to wait on
	}
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

var client = &http.Client{Timeout: 30 * time.Second}

// get answers a GET's status and body, or status 0 when the daemon does not answer.
func (d *daemon) get(path string) (int, string) {
	res, err := client.Get("http://" + d.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (d *daemon) post(path, ctype string, body []byte) (int, string) {
	res, err := client.Post("http://"+d.addr+path, ctype, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, string(b)
}

// metric reads one sample of /metrics (name with its labels, as printed), or -1.
func (d *daemon) metric(series string) float64 {
	code, body := d.get("/metrics")
	if code != http.StatusOK {
		return -1
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// proc reads a field of /proc/PID/status in kB.
func (d *daemon) procKB(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// resetPeak restarts the kernel's peak-RSS count (VmHWM) for the daemon, so that the peak
// after a case is that case's. It needs the right to write /proc/PID/clear_refs (the same
// user); without it the peak is the daemon's lifetime peak, which only overstates a case.
func (d *daemon) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", d.cmd.Process.Pid), []byte("5"), 0)
}

// daemonCase runs fn against a running daemon and checks it stayed up, answered its probe
// and kept its peak RSS within budget of its RSS before the case.
func (d *daemon) check(t *testing.T, name string, fn func() error) {
	t.Helper()
	idle := d.procKB("VmRSS")
	d.resetPeak()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	var err error
	hang := ""
	select {
	case err = <-done:
	case <-time.After(hangAfter):
		hang = "hung"
		err = fmt.Errorf("still running after %s", hangAfter)
	}
	crash := ""
	if d.exited() {
		crash = fmt.Sprintf("daemon exited: %v", d.state)
	} else if code, _ := d.get("/healthz"); code != http.StatusOK {
		hang = "unresponsive"
		err = errors.Join(err, fmt.Errorf("/healthz answered %d after the case", code))
	}
	above := d.procKB("VmHWM") - idle
	if above > rssBudgetKB {
		err = errors.Join(err, fmt.Errorf("peak RSS %d MB above idle", above>>10))
	}
	if crash != "" {
		err = errors.Join(err, errors.New(crash))
	}
	suite.add(name, err == nil, crash, hang, above)
	t.Logf("peak RSS %+.1f MB from idle", float64(above)/1024)
	if err != nil {
		t.Errorf("%s: %v", name, err)
	}
}
