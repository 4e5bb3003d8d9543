package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/heimdall/edged/configs"
)

// A hostile file kind: something a path in a flag or a config key can name that is not a
// small regular file.
type fileKind struct {
	name string
	// make creates it at path.
	make func(t *testing.T, path string)
	// says is what the error must say about it ("" when only the path is named: a 2 GiB
	// sparse model is read and refused at its first byte, others for their size).
	says string
}

var fileKinds = []fileKind{
	{"FIFO", func(t *testing.T, p string) {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}, "FIFO"},
	{"/dev/zero", func(t *testing.T, p string) {
		if err := os.Symlink("/dev/zero", p); err != nil {
			t.Fatal(err)
		}
	}, "character device"},
	{"directory", func(t *testing.T, p string) {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}, "directory"},
	{"2 GiB sparse", func(t *testing.T, p string) {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(2 << 30); err != nil {
			t.Fatal(err)
		}
	}, ""},
}

// fileTarget is a place edged takes a file path: a command-line argument or a config key.
type fileTarget struct {
	name string
	// file is the file name the hostile file gets (its extension matters to some readers).
	file string
	// args is the command line; P stands for the hostile file's path. A config target's
	// YAML (below) is written to C, which args then names.
	args []string
	yaml string
	// sparseOK: a 2 GiB sparse file is a valid input here (a recording of zeros), so that
	// kind is not a hostile case for it.
	sparseOK bool
	// benign is the command's idle baseline: the same command on good input.
	benign string
	env    []string
}

// TestHostileFiles names a FIFO, /dev/zero, a directory and a 2 GiB sparse file everywhere
// edged reads a file as a whole or as a recording, on the command line and in the config:
// each must be refused at once with an error naming the path (and the kind), with exit
// status 1 or 78, without reading it or waiting for a writer.
func TestHostileFiles(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, configs.DemoName)
	if err := os.WriteFile(rec, configs.Demo, 0o600); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(root, "models", "reference", "beacon.onnx")
	serving := filepath.Join(root, "infer", "testdata", "heimdall_serving.onnx")
	contract := filepath.Join(root, "infer", "testdata", "heimdall_serving_contract.json")
	targets := []fileTarget{
		{name: "model inspect", file: "m.onnx", args: []string{"model", "inspect", "P"}, benign: "inspect"},
		{name: "replay -model", file: "m.onnx", args: []string{"replay", "-model", "P", rec}, benign: "replay"},
		{name: "replay -contract", file: "c.json", args: []string{"replay", "-model", serving, "-contract", "P", rec}, benign: "replay"},
		{name: "model inspect -contract", file: "c.json", args: []string{"model", "inspect", "-contract", "P", serving}, benign: "inspect"},
		{name: "check-config FILE", file: "c.yaml", args: []string{"check-config", "P"}, benign: "check"},
		{name: "run -config FILE", file: "c.yaml", args: []string{"run", "-config", "P"}, benign: "check"},
		{name: "replay recording", file: "r_433.92M_250k.cu8", args: []string{"replay", "P"}, sparseOK: true, benign: "replay"},
		{name: "replay SigMF meta", file: "s.sigmf-meta", args: []string{"replay", "P"}, benign: "replay"},
		{name: "replay SigMF archive", file: "a.sigmf", args: []string{"replay", "P"}, benign: "replay"},
		{name: "model.path", file: "m.onnx", yaml: "model: {path: P}\n", benign: "check"},
		{name: "model.path (run)", file: "m.onnx", yaml: "model: {path: P}\n", args: []string{"run", "-config", "C"}, benign: "check"},
		{name: "model.challenger.path", file: "m.onnx", yaml: "model: {challenger: {path: P}}\n", benign: "check"},
		{name: "model.contract_file", file: "c.json", yaml: "model: {path: " + serving + ", contract_file: P}\n", benign: "check"},
		{name: "source.file.path", file: "r_433.92M_250k.cu8", yaml: "source: {kind: file, file: {path: P}}\n", sparseOK: true, benign: "check"},
		{name: "mqtt.password_file", file: "pw", yaml: "mqtt: {broker: 'tcp://127.0.0.1:1', username: u, password_file: P}\n", benign: "check"},
		{name: "mqtt.tls.ca_file", file: "ca.pem", yaml: "mqtt: {broker: 'ssl://127.0.0.1:1', tls: {ca_file: P}}\n", benign: "check"},
		{name: "http.token_file", file: "token", yaml: "http: {token_file: P}\n", benign: "check"},
		{name: "onnxruntime_lib", file: "libonnxruntime.so.1", yaml: "onnxruntime_lib: P\n", benign: "check", env: []string{noORTEnv}},
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("model: {path: "+serving+", contract_file: "+contract+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	idle := map[string]int64{
		"inspect": baseline(t, "model", "inspect", ref),
		"replay":  baseline(t, "replay", rec),
		"check":   baseline(t, "check-config", good),
	}
	t.Logf("idle peak RSS: model inspect %d MB, replay %d MB, check-config %d MB", idle["inspect"]>>10, idle["replay"]>>10, idle["check"]>>10)
	for i, tg := range targets {
		for j, k := range fileKinds {
			if tg.sparseOK && k.name == "2 GiB sparse" {
				continue
			}
			name := fmt.Sprintf("%s is %s", tg.name, k.name)
			t.Run(name, func(t *testing.T) {
				sub := filepath.Join(dir, fmt.Sprintf("t%02d-%d", i, j))
				if err := os.Mkdir(sub, 0o700); err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(sub, tg.file)
				k.make(t, p)
				if strings.HasSuffix(tg.file, ".sigmf-meta") {
					// The data file is there: only the metadata is hostile.
					if err := os.WriteFile(strings.TrimSuffix(p, ".sigmf-meta")+".sigmf-data", make([]byte, 1024), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				args := slices.Clone(tg.args)
				if tg.yaml != "" {
					cfg := filepath.Join(sub, "edged.yaml")
					if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(tg.yaml, "P", p)), 0o600); err != nil {
						t.Fatal(err)
					}
					if args == nil {
						args = []string{"check-config", "C"}
					}
					for n, a := range args {
						if a == "C" {
							args[n] = cfg
						}
					}
				}
				for n, a := range args {
					if a == "P" {
						args[n] = p
					}
				}
				want := []string{p}
				if k.says != "" {
					want = append(want, k.says)
				}
				c := cliCase{name: name, args: args, env: tg.env, want: want, exits: []int{1, 78}}
				c.check(t, sub, idle[tg.benign])
			})
		}
	}
}

// baseline is a command's peak RSS on good input, in kB; the command must succeed.
func baseline(t *testing.T, args ...string) int64 {
	t.Helper()
	o := run(t, "", nil, args...)
	if o.code != 0 || o.crashed() != "" {
		t.Fatalf("edged %s on good input: exit %d %s\n%s", strings.Join(args, " "), o.code, o.crashed(), o.stderr)
	}
	return o.maxRSSKB
}
