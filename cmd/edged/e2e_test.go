package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/infer/geo"
	"github.com/heimdall/edged/internal/schematest"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/models/reference"
)

var edgedBin string

// schemas validates every fix, MQTT message and HTTP answer the end-to-end tests see against
// api/schema, and counts them by where they came from: replay (edged replay's stdout),
// daemon (edged run's stdout), mqtt (a subscriber), http (the local API).
var schemas *schematest.Validator

// fixSources are where the end-to-end tests see fixes; a full run must validate fixes
// from each.
var fixSources = []string{"replay", "daemon", "mqtt", "http"}

// coverDirEnv names the folder where `make cover` collects the binary's coverage counters.
// The binary is always built with -cover; without the variable its counters go to a
// temporary folder that is removed afterwards. (Not EDGED_*: the daemon reads those as
// configuration keys.)
const coverDirEnv = "E2E_GOCOVERDIR"

// TestMain builds the real binary once, with the race detector and coverage counters for
// every package of the module: the end-to-end tests run it as an operator would, and every
// edged process they start (they inherit GOCOVERDIR) adds to the coverage `make cover`
// reports. It is installed with ONNX Runtime beside it (<dir>/bin/edged, <dir>/lib/edged/),
// one of the places edged trusts, and EDGED_ORT_LIB is unset, so that a test's own
// configuration of the library is what the binary sees.
func TestMain(m *testing.M) {
	flag.Parse()
	lib, err := testenv.ORTLibrary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ONNX Runtime:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "edged-e2e")
	if err != nil {
		panic(err)
	}
	coverDir := os.Getenv(coverDirEnv)
	if coverDir == "" {
		coverDir = filepath.Join(dir, "cover")
	}
	if err := os.MkdirAll(coverDir, 0o755); err != nil {
		panic(err)
	}
	os.Setenv("GOCOVERDIR", coverDir)
	edgedBin = filepath.Join(dir, "bin", "edged")
	if err := os.MkdirAll(filepath.Join(dir, "lib", "edged"), 0o755); err != nil {
		panic(err)
	}
	if err := os.Symlink(lib, filepath.Join(dir, "lib", "edged", "libonnxruntime.so.1")); err != nil {
		panic(err)
	}
	// Tests that load models in this process get the library explicitly too.
	if err := infer.Init(lib); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Unsetenv("EDGED_ORT_LIB")
	build := exec.Command("go", "build", "-race", "-cover", "-covermode=atomic", "-coverpkg=github.com/heimdall/edged/...",
		"-tags", "rtlsdr", "-o", edgedBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build edged:", err)
		os.Exit(1)
	}
	if schemas, err = schematest.New(nil); err != nil {
		fmt.Fprintln(os.Stderr, "schemas:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	fmt.Print("schema validation in the end-to-end tests:\n" + schemas.Report())
	if f := flag.Lookup("test.run"); code == 0 && f != nil && f.Value.String() == "" {
		// The whole suite ran: every place fixes come out must have been checked.
		for _, src := range fixSources {
			if schemas.Count("schema/fix.json", src) == 0 {
				fmt.Printf("FAIL: no fix from %s was validated against api/schema/fix.json\n", src)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// validFix fails t unless b is a fix valid against api/schema/fix.json, and counts it
// under source.
func validFix(t testing.TB, source string, b []byte) {
	t.Helper()
	if err := schemas.Validate("schema/fix.json", source, b); err != nil {
		t.Errorf("fix from %s: %v\n%.300s", source, err, b)
	}
}

// synthesize runs `edged synth ARGS -out DIR` and returns the recording it wrote.
func synthesize(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, stderr, err := edged(t, append(append([]string{"synth"}, args...), "-out", dir)...)
	if err != nil {
		t.Fatalf("synth: %v\n%s", err, stderr)
	}
	return strings.TrimSpace(out)
}

func edged(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(edgedBin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

type fix struct {
	Type     string     `json:"type"`
	ID       string     `json:"id"`
	BBox     [4]float64 `json:"bbox"`
	Geometry struct {
		Type        string         `json:"type"`
		Coordinates [][][2]float64 `json:"coordinates"`
	} `json:"geometry"`
	Properties map[string]any `json:"properties"`
}

func parseFixes(t *testing.T, out string) []fix {
	t.Helper()
	var fixes []fix
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var f fix
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("fix is not JSON: %v\n%s", err, sc.Text())
		}
		validFix(t, "replay", sc.Bytes())
		fixes = append(fixes, f)
	}
	return fixes
}

// signedArea is twice the ring's signed area in lon/lat: positive for counter-clockwise.
func signedArea(ring [][2]float64) float64 {
	a := 0.0
	for i := 0; i+1 < len(ring); i++ {
		a += ring[i][0]*ring[i+1][1] - ring[i+1][0]*ring[i][1]
	}
	return a
}

// distanceM is the geodesic distance on WGS84, by bisection on geo.Direct's azimuth-free
// north/east offsets: adequate for "within 1 m" at these scales.
func distanceM(lat1, lon1, lat2, lon2 float64) float64 {
	n, e := geo.MetresPerDegree((lat1 + lat2) / 2)
	return math.Hypot((lat2-lat1)*n, (lon2-lon1)*e)
}

// Ensure a recording with bursts at beacon B gives one fix per bursted window, each centred
// on B's site, with a closed counter-clockwise 64-vertex ring and every fix property, in
// every raw format synth writes.
func TestE2EReplaySynthetic(t *testing.T) {
	b, err := reference.Lookup("B")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"cu8", "cs16", "cf32"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			rec := synthesize(t, dir, "-beacon", "B", "-format", format, "-windows", "10", "-bursts", "1,2,5,9", "-snr-db", "15", "-seed", "7")
			if filepath.Base(rec) != "synth_B_433.92M_250k."+format {
				t.Errorf("recording named %q", filepath.Base(rec))
			}
			db := filepath.Join(dir, "fixes.db")
			out, stderr, err := edged(t, "replay", "-receiver-id", "rx1", "-db", db, rec)
			if err != nil {
				t.Fatalf("replay: %v\n%s", err, stderr)
			}
			fixes := parseFixes(t, out)
			var offsets []int
			for _, f := range fixes {
				offsets = append(offsets, int(f.Properties["sample_offset"].(float64)))
			}
			sort.Ints(offsets)
			want := []int{1 * 16384, 2 * 16384, 5 * 16384, 9 * 16384}
			if fmt.Sprint(offsets) != fmt.Sprint(want) {
				t.Fatalf("fixes at sample offsets %v, want exactly the bursted windows %v", offsets, want)
			}
			for _, f := range fixes {
				checkFix(t, f, b)
			}
		})
	}
}

func checkFix(t *testing.T, f fix, b reference.Beacon) {
	t.Helper()
	p := f.Properties
	if f.Type != "Feature" || f.ID != fmt.Sprintf("rx1:%d", int(p["sample_offset"].(float64))) {
		t.Errorf("type %q id %q", f.Type, f.ID)
	}
	if d := distanceM(p["lat"].(float64), p["lon"].(float64), b.LatDeg, b.LonDeg); d > 1 {
		t.Errorf("fix %s centred %.2f m from beacon %s", f.ID, d, b.Name)
	}
	if f.Geometry.Type != "Polygon" || len(f.Geometry.Coordinates) != 1 {
		t.Fatalf("geometry %s with %d rings", f.Geometry.Type, len(f.Geometry.Coordinates))
	}
	ring := f.Geometry.Coordinates[0]
	if len(ring) != 65 || ring[0] != ring[64] {
		t.Errorf("ring has %d positions (want 64 + closing), closed=%v", len(ring), ring[0] == ring[len(ring)-1])
	}
	if signedArea(ring) <= 0 {
		t.Error("ring is not counter-clockwise")
	}
	for _, k := range []string{"receiver_id", "time", "center_freq_hz", "sample_rate_hz", "sample_offset", "snr_db",
		"lat", "lon", "sigma_east_m", "sigma_north_m", "rho", "semi_major_m", "semi_minor_m", "orientation_deg",
		"confidence_level", "model_confidence", "model", "model_version", "seq"} {
		if _, ok := p[k]; !ok {
			t.Errorf("property %s missing", k)
		}
	}
	if p["center_freq_hz"].(float64) != 433.92e6 || p["sample_rate_hz"].(float64) != 250000 || p["confidence_level"].(float64) != 0.95 {
		t.Errorf("properties %v", p)
	}
	if o := p["orientation_deg"].(float64); o < 0 || o >= 180 {
		t.Errorf("orientation %g outside [0,180)", o)
	}
	if a, b := p["semi_major_m"].(float64), p["semi_minor_m"].(float64); !(a >= b && b > 0) {
		t.Errorf("semi axes %g, %g", a, b)
	}
}

// Ensure bad recordings exit non-zero with one line naming the file and the problem.
func TestE2EReplayBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty_433.92M_250k.cu8")
	odd := filepath.Join(dir, "odd_433.92M_250k.cs16")
	os.WriteFile(empty, nil, 0o644)
	os.WriteFile(odd, make([]byte, 4099), 0o644)
	cases := map[string]string{
		filepath.Join(dir, "missing_433.92M_250k.cu8"): "no such file",
		empty: "empty",
		odd:   "4099",
	}
	for path, want := range cases {
		_, stderr, err := edged(t, "replay", path)
		if err == nil {
			t.Errorf("%s: exit 0", path)
			continue
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], filepath.Base(path)) || !strings.Contains(strings.ToLower(lines[0]), want) {
			t.Errorf("%s: stderr %q, want one line naming the file and %q", path, stderr, want)
		}
	}
}
