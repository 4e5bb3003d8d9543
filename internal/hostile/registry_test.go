package hostile

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heimdall/edged/infer/infertest"
	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
)

// TestHostileRegistry serves the daemon hostile versions from the test MLflow registry:
// the two models whose contracts overflowed (they crashed the daemon at every restart), a
// version without a checksum tag, a listing of 20,000 directories, a 1 GiB declared
// artifact, a file shorter than its listing says, and random bytes as a model. For each the
// daemon keeps serving its current model, stays ready, and counts the failure under its
// reason.
func TestHostileRegistry(t *testing.T) {
	ref, err := os.ReadFile(filepath.Join(root, "models", "reference", "beacon.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	overflowing, err := infertest.OverflowingModels(root)
	if err != nil {
		t.Fatal(err)
	}
	fake := mlflowtest.New(t)
	const name = "edged-beacon"
	fake.SetAlias(name, "champion", fake.AddVersion(name, mlflowtest.ONNXVersion(ref)))
	d := startDaemon(t, fmt.Sprintf("receiver_id: rx\nfix: {print: none}\nmlflow: {tracking_uri: '%s', model_name: %s, alias: champion, interval_seconds: 3600, max_download_bytes: 104857600}\n", fake.URL, name))
	waitActive(t, d, "1")

	dirs := func() { fake.ListDirectoriesOnly(20000) }
	declared := func(size int64) func() {
		return func() {
			fake.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"files": [{"path": "model.onnx", "is_dir": false, "file_size": %d}]}`, size)
			})
		}
	}
	untagged := mlflowtest.ONNXVersion(ref)
	untagged.Tags = nil
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7 + i>>8)
	}
	cases := []struct {
		name   string
		v      mlflowtest.Version
		setup  func()
		reason string
		// fetches is how many files the case may download (-1: any).
		fetches int
	}{
		{"first_bin 2^63-64 in the contract", mlflowtest.ONNXVersion(overflowing["first_bin"]), nil, "verify", -1},
		{"frames 2^58 with a dynamic time axis", mlflowtest.ONNXVersion(overflowing["frames"]), nil, "verify", -1},
		{"random bytes as the model", mlflowtest.ONNXVersion(garbage), nil, "verify", -1},
		{"no edged.sha256 tag", untagged, nil, "checksum", 0},
		{"a listing of 20,000 directories", mlflowtest.ONNXVersion(ref), dirs, "server", 0},
		// Over mlflow.max_download_bytes: refused from the listing, nothing fetched.
		{"a 1 GiB declared artifact", mlflowtest.ONNXVersion(ref), declared(1 << 30), "size", 0},
		{"a model shorter than its listing says", mlflowtest.ONNXVersion(ref), declared(int64(len(ref)) + 1000), "size", -1},
	}
	for _, c := range cases {
		caseName := "registry: " + c.name
		t.Run(c.name, func(t *testing.T) {
			fake.ClearFaults()
			v := fake.AddVersion(name, c.v)
			fake.SetAlias(name, "champion", v)
			if c.setup != nil {
				c.setup()
			}
			series := fmt.Sprintf(`edged_model_sync_failures_total{reason="%s"}`, c.reason)
			before := d.metric(series)
			fetched := fake.Hits(mlflowtest.RouteArtifactFile)
			d.check(t, caseName, func() error {
				// The reload answers with the failure; the metric and the model say the rest.
				d.post("/api/v1/model/reload", "application/json", nil)
				if after := d.metric(series); after != before+1 {
					return fmt.Errorf("%s went from %g to %g, want one more", series, before, after)
				}
				if n := fake.Hits(mlflowtest.RouteArtifactFile) - fetched; c.fetches >= 0 && n > c.fetches {
					return fmt.Errorf("%d files downloaded, want at most %d", n, c.fetches)
				}
				if v := activeVersion(d); v != "1" {
					return fmt.Errorf("active version %q, want the current 1", v)
				}
				if code, body := d.get("/readyz"); code != http.StatusOK {
					return fmt.Errorf("/readyz %d: %.200s", code, body)
				}
				return nil
			})
		})
	}
	fake.ClearFaults()
}

// activeVersion is the version /api/v1/model reports, or "".
func activeVersion(d *daemon) string {
	code, body := d.get("/api/v1/model")
	if code != http.StatusOK {
		return ""
	}
	var m struct {
		Version string `json:"version"`
	}
	json.Unmarshal([]byte(body), &m)
	return m.Version
}

// waitActive waits until the daemon's active model is version v.
func waitActive(t *testing.T, d *daemon, v string) {
	t.Helper()
	deadline := time.Now().Add(hangAfter)
	for activeVersion(d) != v {
		if time.Now().After(deadline) {
			t.Fatalf("version %s not active after %s (active %q)", v, hangAfter, activeVersion(d))
		}
		time.Sleep(50 * time.Millisecond) // polling an external process
	}
}
