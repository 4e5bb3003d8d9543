package schematest

import (
	"bufio"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdall/edged/api/schema"
	"github.com/heimdall/edged/internal/testenv"
)

// Ensure every schema compiles against the 2020-12 meta-schema, with every reference
// resolved among the embedded files.
func TestSchemasCompile(t *testing.T) {
	v, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(schema.FS, "*.json")
	for _, n := range names {
		if _, err := v.compiled("schema/" + n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := v.compiled("schema/nothing.json"); err == nil || !strings.Contains(err.Error(), "nothing is fetched") {
		t.Errorf("a missing document: %v", err)
	}
}

// goldenFixes are the fixes replay's golden files pin: real output of every kind of model
// and recording the tests replay.
func goldenFixes(t *testing.T) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.ModuleRoot(t), "cmd/edged/testdata/golden/*/fixes.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("golden fixes: %v %v", files, err)
	}
	var out [][]byte
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
		fh.Close()
	}
	return out
}

// Ensure the golden fixes are valid and that each thing the fix schema promises is
// checked: a fix breaking one promise is refused.
func TestFixSchema(t *testing.T) {
	v, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	fixes := goldenFixes(t)
	for _, b := range fixes {
		if err := v.Validate("schema/fix.json", "golden", b); err != nil {
			t.Errorf("%.80s: %v", b, err)
		}
	}
	if n := v.Count("schema/fix.json", "golden"); n != len(fixes) || n < 20 {
		t.Errorf("%d of %d golden fixes valid", n, len(fixes))
	}
	var good map[string]any
	if err := json.Unmarshal(fixes[0], &good); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(f, p map[string]any){
		"no id":                func(f, p map[string]any) { delete(f, "id") },
		"id without offset":    func(f, p map[string]any) { f["id"] = "rx1" },
		"id with a space":      func(f, p map[string]any) { f["id"] = "rx 1:16384" },
		"unknown member":       func(f, p map[string]any) { f["crs"] = "EPSG:4326" },
		"unknown property":     func(f, p map[string]any) { p["snr"] = 3 },
		"missing property":     func(f, p map[string]any) { delete(p, "model_confidence") },
		"orientation 180":      func(f, p map[string]any) { p["orientation_deg"] = 180.0 },
		"negative orientation": func(f, p map[string]any) { p["orientation_deg"] = -1.0 },
		"confidence level 1":   func(f, p map[string]any) { p["confidence_level"] = 1.0 },
		"rho above 1":          func(f, p map[string]any) { p["rho"] = 1.5 },
		"latitude 91":          func(f, p map[string]any) { p["lat"] = 91.0 },
		"time not RFC 3339":    func(f, p map[string]any) { p["time"] = "27/11/2026 08:00" },
		"time not UTC":         func(f, p map[string]any) { p["time"] = "2026-11-27T09:00:00+01:00" },
		"seq fractional":       func(f, p map[string]any) { p["seq"] = 1.5 },
		"zero semi-minor axis": func(f, p map[string]any) { p["semi_minor_m"] = 0.0 },
		"bbox of three":        func(f, p map[string]any) { f["bbox"] = []any{1.0, 2.0, 3.0} },
		"bbox latitude 100":    func(f, p map[string]any) { f["bbox"] = []any{1.0, 100.0, 3.0, 4.0} },
		"Point geometry": func(f, p map[string]any) {
			f["geometry"] = map[string]any{"type": "Point", "coordinates": []any{1.0, 2.0}}
		},
		"ring of three":         func(f, p map[string]any) { ring(f)[0] = ring(f)[0].([]any)[:3] },
		"position of three":     func(f, p map[string]any) { ring(f)[0].([]any)[0] = []any{1.0, 2.0, 3.0} },
		"longitude 181":         func(f, p map[string]any) { ring(f)[0].([]any)[0] = []any{181.0, 2.0} },
		"model_confidence text": func(f, p map[string]any) { p["model_confidence"] = "high" },
	} {
		var f map[string]any
		json.Unmarshal(fixes[0], &f)
		mutate(f, f["properties"].(map[string]any))
		b, _ := json.Marshal(f)
		if err := v.Validate("schema/fix.json", "mutated", b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// ring returns the rings of a Polygon fix's coordinates.
func ring(f map[string]any) []any {
	return f["geometry"].(map[string]any)["coordinates"].([]any)
}

// Ensure the MQTT message schemas accept what edged publishes and refuse the rest.
func TestMessageSchemas(t *testing.T) {
	v, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"online", "offline"} {
		if err := v.ValidateValue("schema/availability.json", "test", s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if err := v.ValidateValue("schema/availability.json", "test", "Online"); err == nil {
		t.Error("availability Online accepted")
	}
	model := `{"name":"edged-reference-beacon","version":"1","sha256":"` + strings.Repeat("ab", 32) + `","since":"2026-11-27T08:00:00.123Z"}`
	if err := v.Validate("schema/model-message.json", "test", []byte(model)); err != nil {
		t.Errorf("model: %v", err)
	}
	for _, bad := range []string{strings.Replace(model, `"since":"2026-11-27T08:00:00.123Z"`, `"since":"yesterday"`, 1),
		strings.Replace(model, "abab", "ABAB", 1), `{"name":"x","version":"1"}`} {
		if err := v.Validate("schema/model-message.json", "test", []byte(bad)); err == nil {
			t.Errorf("model %s accepted", bad)
		}
	}
}
