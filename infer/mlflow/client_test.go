package mlflow_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/heimdall/edged/infer/mlflow"
	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
)

const model = "edge-detector"

// fastConfig shrinks retries and timeouts so faults resolve in milliseconds.
func fastConfig(uri string) mlflow.Config {
	return mlflow.Config{
		TrackingURI:    uri,
		MaxRetries:     2,
		BackoffFactor:  time.Millisecond,
		BackoffJitter:  time.Millisecond,
		BackoffMax:     5 * time.Millisecond,
		RequestTimeout: 2 * time.Second,
	}
}

func newBenchClient(uri string) (*mlflow.Client, error) {
	return mlflow.New(fastConfig(uri), nil)
}

func newClient(t *testing.T, cfg mlflow.Config) *mlflow.Client {
	t.Helper()
	c, err := mlflow.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// modelFiles is an ONNX-flavoured directory with an external-data sidecar
// and a nested folder; the bytes need not be real ONNX here.
func modelFiles() map[string][]byte {
	return map[string][]byte{
		"MLmodel":                              []byte("flavors:\n  onnx:\n    data: model.onnx\n"),
		"model.onnx":                           bytes.Repeat([]byte{0x08, 0x07}, 5000),
		"0c9f2a3e-2b1d-11ef-9a1b-0242ac120002": bytes.Repeat([]byte{1, 2, 3, 4}, 30000),
		"conda.yaml":                           []byte("name: x\n"),
		"code/helper.py":                       []byte("print(1)\n"),
		"empty.txt":                            nil,
		"code/odd name #1%?.txt":               []byte("escaping"),
	}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestFakeMatchesFixtures checks the fake's bytes against answers recorded from an
// MLflow server, written out below.
func TestFakeMatchesFixtures(t *testing.T) {
	s := mlflowtest.New(t)
	s.AddVersion(model, mlflowtest.Version{Files: modelFiles()})
	s.AddVersion(model, mlflowtest.Version{
		Files: modelFiles(), RunID: "9a8b7c6d5e4f40318b2a1c0d9e8f7a6b", Stage: "Production",
		Tags: map[string]string{"sha256.model.onnx": "3b7e...e1"}, CreatedMs: 1718300000000, UpdatedMs: 1718400000000,
	})
	s.SetAlias(model, "champion", "2")

	want := `{
  "model_version": {
    "name": "edge-detector",
    "version": "2",
    "creation_timestamp": 1718300000000,
    "last_updated_timestamp": 1718400000000,
    "current_stage": "Production",
    "description": "",
    "source": "mlflow-artifacts:/1/9a8b7c6d5e4f40318b2a1c0d9e8f7a6b/artifacts/model",
    "run_id": "9a8b7c6d5e4f40318b2a1c0d9e8f7a6b",
    "status": "READY",
    "tags": [
      {
        "key": "sha256.model.onnx",
        "value": "3b7e...e1"
      }
    ],
    "run_link": "",
    "aliases": [
      "champion"
    ]
  }
}`
	for _, u := range []string{
		"/api/2.0/mlflow/registered-models/alias?name=edge-detector&alias=champion",
		"/api/2.0/mlflow/model-versions/get?name=edge-detector&version=2",
		"/ajax-api/2.0/mlflow/model-versions/get?name=edge-detector&version=2",
	} {
		resp, b := get(t, s.URL+u)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || string(b) != want {
			t.Errorf("GET %s: %d %q\n%s\nwant\n%s", u, resp.StatusCode, resp.Header.Get("Content-Type"), b, want)
		}
	}

	errs := []struct{ url, status, body string }{
		{"/api/2.0/mlflow/registered-models/alias?name=edge-detector&alias=canary", "400", `{"error_code": "INVALID_PARAMETER_VALUE", "message": "Registered model alias canary not found."}`},
		{"/api/2.0/mlflow/model-versions/get?name=edge-detector&version=9", "404", `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Model Version (name=edge-detector, version=9) not found"}`},
		{"/api/2.0/mlflow/registered-models/get?name=nope", "404", `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model with name=nope not found"}`},
		{"/api/2.0/mlflow/registered-models/get", "400", `{"error_code": "INVALID_PARAMETER_VALUE", "message": "Missing value for required parameter 'name'. See the API docs for more information about request parameters."}`},
	}
	for _, e := range errs {
		resp, b := get(t, s.URL+e.url)
		if got := resp.Status[:3]; got != e.status || string(b) != e.body {
			t.Errorf("GET %s: %s %s, want %s %s", e.url, got, b, e.status, e.body)
		}
	}

	// Proxied listing: basenames, directories without file_size, 0-byte files without file_size.
	root := "1/9a8b7c6d5e4f40318b2a1c0d9e8f7a6b/artifacts/model"
	_, b := get(t, s.URL+"/api/2.0/mlflow-artifacts/artifacts?path="+root)
	for _, frag := range []string{`"path": "code",
      "is_dir": true
    }`, `"path": "empty.txt",
      "is_dir": false
    }`, `"path": "model.onnx",
      "is_dir": false,
      "file_size": 10000`} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("listing lacks %q:\n%s", frag, b)
		}
	}
	if strings.Contains(string(b), "root_uri") {
		t.Errorf("proxied listing has root_uri:\n%s", b)
	}
	if _, b := get(t, s.URL+"/api/2.0/mlflow-artifacts/artifacts?path=nothing/here"); string(b) != "{}" {
		t.Errorf("empty listing = %s, want {}", b)
	}

	// Run listing: run-relative paths and root_uri.
	_, b = get(t, s.URL+"/api/2.0/mlflow/artifacts/list?run_id=9a8b7c6d5e4f40318b2a1c0d9e8f7a6b&path=model")
	if !strings.HasPrefix(string(b), "{\n  \"root_uri\": \"mlflow-artifacts:/1/9a8b7c6d5e4f40318b2a1c0d9e8f7a6b/artifacts\",") ||
		!strings.Contains(string(b), `"path": "model/MLmodel"`) {
		t.Errorf("run listing:\n%s", b)
	}

	// Download: chunked, no Content-Length, documented headers.
	resp, body := get(t, s.URL+"/api/2.0/mlflow-artifacts/artifacts/"+root+"/model.onnx")
	if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("download: ContentLength %d, TransferEncoding %v", resp.ContentLength, resp.TransferEncoding)
	}
	if resp.Header.Get("Content-Type") != "application/octet-stream" ||
		resp.Header.Get("Content-Disposition") != "attachment; filename=model.onnx" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || !bytes.Equal(body, modelFiles()["model.onnx"]) {
		t.Errorf("download headers %v, %d bytes", resp.Header, len(body))
	}
	if resp, _ := get(t, s.URL+"/api/2.0/mlflow-artifacts/artifacts/"+root+"/MLmodel"); resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("MLmodel Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if resp, b := get(t, s.URL+"/api/2.0/mlflow-artifacts/artifacts/"+root+"/missing.onnx"); resp.StatusCode != 500 || !strings.Contains(string(b), `"INTERNAL_ERROR"`) {
		t.Errorf("missing file: %d %s", resp.StatusCode, b)
	}

	// Bad credentials: 401 text/plain with the challenge.
	s.RequireBasicAuth("alice", "s3cret")
	resp, b = get(t, s.URL+"/api/2.0/mlflow/model-versions/get?name=edge-detector&version=2")
	if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "text/plain" ||
		resp.Header.Get("WWW-Authenticate") != `Basic realm="mlflow"` || !strings.HasPrefix(string(b), "You are not authenticated.") {
		t.Errorf("401: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	if resp, b := get(t, s.URL+"/health"); resp.StatusCode != 200 || string(b) != "OK" {
		t.Errorf("/health behind auth: %d %s", resp.StatusCode, b)
	}
}

func TestVersionByAlias(t *testing.T) {
	s := mlflowtest.New(t)
	s.AddVersion(model, mlflowtest.Version{Files: modelFiles()})
	v2 := s.AddVersion(model, mlflowtest.Version{Files: modelFiles(), Tags: map[string]string{"edged.sha256": "abc"}})
	s.SetAlias(model, "champion", v2)
	c := newClient(t, fastConfig(s.URL))

	mv, err := c.VersionByAlias(context.Background(), model, "champion")
	if err != nil {
		t.Fatal(err)
	}
	if mv.Name != model || mv.Version != "2" || mv.Status != mlflow.StatusReady || mv.Tags["edged.sha256"] != "abc" ||
		!slices.Equal(mv.Aliases, []string{"champion"}) || mv.CreationTimestampMs == 0 || mv.CurrentStage != "None" {
		t.Errorf("got %+v", mv)
	}

	_, err = c.VersionByAlias(context.Background(), model, "canary")
	var ae *mlflow.APIError
	if !errors.Is(err, mlflow.ErrAliasNotFound) || !errors.Is(err, mlflow.ErrNotFound) || errors.Is(err, mlflow.ErrInvalidParameter) ||
		!errors.As(err, &ae) || ae.HTTPStatus != 400 || ae.Code != "INVALID_PARAMETER_VALUE" {
		t.Errorf("missing alias: %v", err)
	}
	if got := s.Hits(mlflowtest.RouteAlias); got != 2 {
		t.Errorf("alias hits = %d, want 2 (a 400 is not retried)", got)
	}

	_, err = c.GetVersion(context.Background(), model, "9")
	if !errors.Is(err, mlflow.ErrNotFound) || errors.Is(err, mlflow.ErrAliasNotFound) || !errors.As(err, &ae) || ae.HTTPStatus != 404 {
		t.Errorf("missing version: %v", err)
	}
	_, err = c.GetVersion(context.Background(), model, "x")
	if !errors.Is(err, mlflow.ErrInvalidParameter) || errors.Is(err, mlflow.ErrNotFound) {
		t.Errorf("non-integer version: %v", err)
	}
}

// TestLatestVersionTakesMax guards against the replaced loader's bug: it took
// the first version listed, not the newest.
func TestLatestVersionTakesMax(t *testing.T) {
	s := mlflowtest.New(t)
	for range 3 {
		s.AddVersion(model, mlflowtest.Version{Files: modelFiles()})
	}
	s.SetStage(model, "2", "Production")
	s.SetStage(model, "3", "Staging")
	c := newClient(t, fastConfig(s.URL))
	ctx := context.Background()

	mv, err := c.LatestVersion(ctx, model, "")
	if err != nil || mv.Version != "3" {
		t.Errorf("latest any stage = %q, %v; want 3", mv.Version, err)
	}
	mv, err = c.LatestVersion(ctx, model, "production")
	if err != nil || mv.Version != "2" || mv.CurrentStage != "Production" {
		t.Errorf("latest production = %+v, %v", mv, err)
	}
	if _, err := c.LatestVersion(ctx, model, "Archived"); !errors.Is(err, mlflow.ErrNotFound) {
		t.Errorf("empty stage: %v, want ErrNotFound", err)
	}
	if _, err := c.LatestVersion(ctx, "nope", ""); !errors.Is(err, mlflow.ErrNotFound) {
		t.Errorf("missing model: %v", err)
	}

	// A server listing several versions of one stage, newest not first.
	s.Override(mlflowtest.RouteLatestVersions, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"model_versions": [{"name": "edge-detector", "version": "5", "current_stage": "Production"},
			{"name": "edge-detector", "version": "12", "current_stage": "Production"},
			{"name": "edge-detector", "version": "9", "current_stage": "Production"}]}`)
	})
	mv, err = c.LatestVersion(ctx, model, "Production")
	if err != nil || mv.Version != "12" {
		t.Errorf("max of 5,12,9 = %q, %v", mv.Version, err)
	}
}

func TestSearchVersionsFollowsPages(t *testing.T) {
	s := mlflowtest.New(t)
	for range 5 {
		s.AddVersion(model, mlflowtest.Version{Files: modelFiles()})
	}
	s.AddVersion("other", mlflowtest.Version{Files: modelFiles()})
	s.SearchPageSize(2)
	c := newClient(t, fastConfig(s.URL))
	vs, err := c.SearchVersions(context.Background(), "name='edge-detector'")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.Version)
		if v.Aliases != nil {
			t.Errorf("search result carries aliases: %+v", v)
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, []string{"1", "2", "3", "4", "5"}) {
		t.Errorf("versions %v", got)
	}
	if hits := s.Hits(mlflowtest.RouteSearch); hits != 3 {
		t.Errorf("search pages = %d, want 3", hits)
	}

	// A server repeating its page token must not loop forever.
	s.Override(mlflowtest.RouteSearch, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"next_page_token": "eyJvZmZzZXQiOiAyfQ=="}`)
	})
	if _, err := c.SearchVersions(context.Background(), ""); !errors.Is(err, mlflow.ErrBadResponse) {
		t.Errorf("repeating token: %v", err)
	}
}

func TestTolerantDecoding(t *testing.T) {
	s := mlflowtest.New(t)
	s.Override(mlflowtest.RouteGetVersion, func(w http.ResponseWriter, r *http.Request) {
		// int64 as strings (older servers, GitLab), version as a number,
		// unknown 3.x fields, omitted description/run_link.
		io.WriteString(w, `{"model_version": {"name": "edge-detector", "version": 7,
			"creation_timestamp": "1718300000000", "last_updated_timestamp": "1718400000000",
			"status": "READY", "model_id": "m-1", "metrics": [{"key": "x", "value": 1.5}],
			"deployment_job_state": {"job_id": "j"}}, "extra": true}`)
	})
	cfg := fastConfig(s.URL)
	// The 33 MiB answer below takes seconds to write under -race on a loaded machine; the
	// test is about decoding, not about silence.
	cfg.RequestTimeout = time.Minute
	c := newClient(t, cfg)
	mv, err := c.GetVersion(context.Background(), model, "7")
	if err != nil {
		t.Fatal(err)
	}
	if mv.Version != "7" || mv.CreationTimestampMs != 1718300000000 || mv.LastUpdatedTimestampMs != 1718400000000 || mv.Status != "READY" {
		t.Errorf("got %+v", mv)
	}

	for _, body := range []string{
		`not json`,
		`{"model_version": {"name": "m", "version": "x"}}`,
		`{"model_version": {"name": "m", "version": "1", "creation_timestamp": "soon"}}`,
		`{}`,
		strings.Repeat("[", 100000),
		`{"model_version": {"name": "` + strings.Repeat("a", 33<<20) + `"}}`, // over the 32 MiB answer limit
	} {
		s.Override(mlflowtest.RouteGetVersion, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
		if _, err := c.GetVersion(context.Background(), model, "1"); !errors.Is(err, mlflow.ErrBadResponse) {
			t.Errorf("body %.30q: err %v, want ErrBadResponse", body, err)
		}
	}
}

func TestRetries(t *testing.T) {
	s := mlflowtest.New(t)
	s.AddVersion(model, mlflowtest.Version{Files: modelFiles()})
	s.SetAlias(model, "champion", "1")
	c := newClient(t, fastConfig(s.URL))
	ctx := context.Background()

	s.Fail(mlflowtest.RouteAlias, 503, 2)
	if _, err := c.VersionByAlias(ctx, model, "champion"); err != nil {
		t.Errorf("two 503s then OK: %v", err)
	}
	if got := s.Hits(mlflowtest.RouteAlias); got != 3 {
		t.Errorf("hits = %d, want 3", got)
	}

	s.Fail(mlflowtest.RouteAlias, 500, -1)
	_, err := c.VersionByAlias(ctx, model, "champion")
	var ae *mlflow.APIError
	if !errors.Is(err, mlflow.ErrServer) || !errors.As(err, &ae) || ae.HTTPStatus != 500 || ae.Code != "INTERNAL_ERROR" {
		t.Errorf("persistent 500: %v", err)
	}
	if got := s.Hits(mlflowtest.RouteAlias); got != 6 {
		t.Errorf("hits = %d, want 6 (1 + MaxRetries 2)", got)
	}

	// Retry-After is honoured but capped by BackoffMax, so this stays fast.
	s.ClearFaults()
	s.Override(mlflowtest.RouteAlias, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(429)
	})
	start := time.Now()
	_, err = c.VersionByAlias(ctx, model, "champion")
	if !errors.Is(err, mlflow.ErrRateLimited) {
		t.Errorf("429: %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("Retry-After not capped by BackoffMax")
	}

	// Cancelling the caller's context stops the retry loop.
	s.Override(mlflowtest.RouteAlias, nil)
	s.Fail(mlflowtest.RouteAlias, 503, -1)
	cfg := fastConfig(s.URL)
	cfg.BackoffFactor, cfg.BackoffMax = time.Hour, time.Hour
	slow := newClient(t, cfg)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := slow.VersionByAlias(cctx, model, "champion"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestHangingServerTimesOut(t *testing.T) {
	s := mlflowtest.New(t)
	s.Hang(mlflowtest.RouteAlias)
	cfg := fastConfig(s.URL)
	cfg.RequestTimeout = 50 * time.Millisecond
	cfg.MaxRetries = 1
	c := newClient(t, cfg)
	_, err := c.VersionByAlias(context.Background(), model, "champion")
	if !errors.Is(err, mlflow.ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	if got := s.Hits(mlflowtest.RouteAlias); got != 2 {
		t.Errorf("hits = %d, want 2 (timeouts are retried)", got)
	}
}

func TestAuth(t *testing.T) {
	s := mlflowtest.New(t)
	s.AddVersion(model, mlflowtest.Version{Files: modelFiles()})
	s.SetAlias(model, "champion", "1")
	s.RequireBasicAuth("alice", "s3cret-pw")
	ctx := context.Background()

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := fastConfig(s.URL)
	cfg.Username, cfg.Password = "alice", "wrong-pw"
	bad, err := mlflow.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.VersionByAlias(ctx, model, "champion")
	var ae *mlflow.APIError
	if !errors.Is(err, mlflow.ErrUnauthenticated) || !errors.As(err, &ae) || ae.Code != "UNAUTHENTICATED" || !strings.Contains(ae.Message, "not authenticated") {
		t.Errorf("bad password: %v", err)
	}
	if s.Hits(mlflowtest.RouteAlias) != 1 {
		t.Errorf("a 401 must not be retried")
	}
	if strings.Contains(err.Error(), "wrong-pw") || strings.Contains(logs.String(), "wrong-pw") {
		t.Errorf("password leaked: %v / %s", err, logs.String())
	}
	if strings.Contains(cfg.String(), "wrong-pw") {
		t.Errorf("Config.String leaks the password: %s", cfg)
	}

	cfg.Password = "s3cret-pw"
	cfg.Token = "ignored-token" // basic wins when both are set
	if _, err := newClient(t, cfg).VersionByAlias(ctx, model, "champion"); err != nil {
		t.Errorf("good password: %v", err)
	}

	// A download URI naming another host gets no credentials.
	other := mlflowtest.New(t)
	var leaked string
	other.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) {
		leaked = r.Header.Get("Authorization")
		io.WriteString(w, "{}")
	})
	s.SetDownloadURI(model, "1", other.URL+"/api/2.0/mlflow-artifacts/artifacts/x")
	if _, err := newClient(t, cfg).DownloadDir(ctx, "models:/"+model+"/1", t.TempDir(), 0); !errors.Is(err, mlflow.ErrEmptyArtifacts) || leaked != "" {
		t.Errorf("foreign host: err %v, Authorization %q", err, leaked)
	}

	s.RequireBearer("tok-123")
	cfg = fastConfig(s.URL)
	cfg.Token = "tok-123"
	if _, err := newClient(t, cfg).VersionByAlias(ctx, model, "champion"); err != nil {
		t.Errorf("bearer: %v", err)
	}
	s.Override(mlflowtest.RouteAlias, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(403)
		io.WriteString(w, "Permission denied")
	})
	if _, err := newClient(t, cfg).VersionByAlias(ctx, model, "champion"); !errors.Is(err, mlflow.ErrPermissionDenied) {
		t.Errorf("403: %v", err)
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestDownloadDirURIForms(t *testing.T) {
	s := mlflowtest.New(t)
	v1 := s.AddVersion(model, mlflowtest.Version{Files: modelFiles(), Layout: mlflowtest.Layout2x})
	v2 := s.AddVersion(model, mlflowtest.Version{Files: modelFiles(), Layout: mlflowtest.Layout3x, Stage: "Production"})
	s.SetAlias(model, "champion", v1)
	c := newClient(t, fastConfig(s.URL))
	ctx := context.Background()

	src1, src2 := s.Source(model, v1), s.Source(model, v2)
	if !strings.HasPrefix(src1, "mlflow-artifacts:/1/") || !strings.HasSuffix(src1, "/artifacts/model") || !strings.HasPrefix(src2, "models:/m-") {
		t.Fatalf("sources %q %q", src1, src2)
	}
	uri2, err := c.DownloadURI(ctx, model, v2)
	if err != nil || uri2 != "mlflow-artifacts:/1/models/"+strings.TrimPrefix(src2, "models:/")+"/artifacts" {
		t.Fatalf("download uri of 3.x version = %q, %v", uri2, err)
	}
	runID := strings.Split(src1, "/")[2]

	for _, uri := range []string{
		src1,
		s.URL + "/api/2.0/mlflow-artifacts/artifacts/" + strings.TrimPrefix(src1, "mlflow-artifacts:/"),
		"runs:/" + runID + "/model",
		"models:/" + model + "/1",
		"models:/" + model + "@champion",
		"models:/" + model + "/production",
		"models:/" + model + "/latest",
		src2,
		uri2,
	} {
		t.Run(uri, func(t *testing.T) {
			dst := t.TempDir()
			files, err := c.DownloadDir(ctx, uri, dst, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := modelFiles()
			got := readTree(t, dst)
			if len(got) != len(want) || len(files) != len(want) {
				t.Errorf("got %d files on disk, %d reported; want %d", len(got), len(files), len(want))
			}
			for p, b := range want {
				if !bytes.Equal(got[p], b) {
					t.Errorf("%s: %d bytes on disk, want %d", p, len(got[p]), len(b))
				}
			}
			for _, f := range files {
				if f.SizeBytes != int64(len(want[f.Path])) {
					t.Errorf("reported %s as %d bytes", f.Path, f.SizeBytes)
				}
			}
		})
	}
}

func TestDownloadDirFailures(t *testing.T) {
	s := mlflowtest.New(t)
	v := s.AddVersion(model, mlflowtest.Version{Files: modelFiles()})
	src := s.Source(model, v)
	root := strings.TrimPrefix(src, "mlflow-artifacts:/")
	c := newClient(t, fastConfig(s.URL))
	ctx := context.Background()

	cases := []struct {
		name  string
		setup func()
		want  error
	}{
		{"truncated", func() { s.TruncateDownloads(100) }, mlflow.ErrTruncated},
		{"size mismatch", func() {
			s.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"files": [{"path": "model.onnx", "is_dir": false, "file_size": 9999}]}`)
			})
		}, mlflow.ErrSizeMismatch},
		{"missing size means empty", func() {
			s.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"files": [{"path": "model.onnx", "is_dir": false}]}`)
			})
		}, mlflow.ErrSizeMismatch},
		{"traversal", func() {
			s.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"files": [{"path": "../../x", "is_dir": false, "file_size": 3}]}`)
			})
		}, mlflow.ErrUnsafePath},
		{"dot dot dir", func() {
			s.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"files": [{"path": "..", "is_dir": true}]}`)
			})
		}, mlflow.ErrUnsafePath},
		{"absolute", func() {
			s.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"files": [{"path": "/etc/passwd", "is_dir": false, "file_size": 3}]}`)
			})
		}, mlflow.ErrUnsafePath},
		{"duplicate", func() {
			s.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"files": [{"path": "MLmodel", "is_dir": false, "file_size": 3}, {"path": "MLmodel", "is_dir": false, "file_size": 3}]}`)
			})
		}, mlflow.ErrBadResponse},
		{"empty", func() {
			s.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) })
		}, mlflow.ErrEmptyArtifacts},
		{"download 500", func() { s.Fail(mlflowtest.RouteArtifactFile, 500, -1) }, mlflow.ErrServer},
		{"hanging download", func() { s.Hang(mlflowtest.RouteArtifactFile) }, mlflow.ErrTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.ClearFaults()
			tc.setup()
			cfg := fastConfig(s.URL)
			if tc.want == mlflow.ErrTimeout {
				cfg.RequestTimeout = 100 * time.Millisecond
			}
			cfg.MaxRetries = -1
			parent := t.TempDir()
			dst := filepath.Join(parent, "a", "b")
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := newClient(t, cfg).DownloadDir(ctx, src, dst, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(parent, "x")); err == nil {
				t.Errorf("a file escaped the destination")
			}
		})
	}
	s.ClearFaults()

	for _, uri := range []string{"s3://bucket/model", "file:///etc", "models:/", "models:/" + model + "/bogus", "runs:/", "http://example.com/x", "mlflow-artifacts:/1/../../etc"} {
		if _, err := c.DownloadDir(ctx, uri, t.TempDir(), 0); !errors.Is(err, mlflow.ErrUnsupportedURI) && !errors.Is(err, mlflow.ErrUnsafePath) {
			t.Errorf("%s: %v, want ErrUnsupportedURI or ErrUnsafePath", uri, err)
		}
	}
	_ = root
}

func TestConfigFromEnv(t *testing.T) {
	clear := func() {
		for _, k := range []string{"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
			"MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH", "MLFLOW_TRACKING_CLIENT_CERT_PATH",
			"MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_TIMEOUT"} {
			t.Setenv(k, "")
		}
	}
	clear()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("MLFLOW_TRACKING_URI", "https://mlflow.example:5000/prefix")
	os.MkdirAll(filepath.Join(home, ".mlflow"), 0o700)
	os.WriteFile(filepath.Join(home, ".mlflow", "credentials"), []byte("[other]\nmlflow_tracking_password = no\n[mlflow]\nmlflow_tracking_username = fileuser\nmlflow_tracking_password = filepass\n"), 0o600)
	if cfg, err := mlflow.ConfigFromEnv(); err != nil || cfg.Username != "fileuser" || cfg.Password != "filepass" {
		t.Errorf("credentials file: %+v %v", cfg, err)
	}
	os.Remove(filepath.Join(home, ".mlflow", "credentials"))
	t.Setenv("MLFLOW_TRACKING_USERNAME", "u")
	t.Setenv("MLFLOW_TRACKING_PASSWORD", "p")
	t.Setenv("MLFLOW_TRACKING_TOKEN", "t")
	t.Setenv("MLFLOW_TRACKING_INSECURE_TLS", "TRUE")
	t.Setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
	t.Setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.5")
	t.Setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
	cfg, err := mlflow.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Username != "u" || cfg.Password != "p" || cfg.Token != "" || !cfg.InsecureTLS || cfg.MaxRetries != 3 ||
		cfg.BackoffFactor != 500*time.Millisecond || cfg.RequestTimeout != 30*time.Second {
		t.Errorf("got %+v", cfg)
	}

	t.Setenv("MLFLOW_TRACKING_PASSWORD", "")
	if cfg, err = mlflow.ConfigFromEnv(); err != nil || cfg.Token != "t" || cfg.Username != "" {
		t.Errorf("username without password should fall back to the token: %+v %v", cfg, err)
	}

	t.Setenv("MLFLOW_TRACKING_URI", "")
	if cfg, err := mlflow.ConfigFromEnv(); err != nil || cfg.TrackingURI != "" {
		t.Errorf("unset URI must be left to the caller: %+v %v", cfg, err)
	} else if _, err := mlflow.New(cfg, nil); !errors.Is(err, mlflow.ErrInvalidConfig) {
		t.Errorf("New without a URI: %v", err)
	}
	t.Setenv("MLFLOW_TRACKING_URI", "https://mlflow.example:5000/prefix")
	t.Setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", "/etc/ssl/ca.pem")
	if _, err := mlflow.ConfigFromEnv(); !errors.Is(err, mlflow.ErrInvalidConfig) {
		t.Errorf("insecure + cert path: %v", err)
	}
	t.Setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", "")
	for k, v := range map[string]string{
		"MLFLOW_TRACKING_INSECURE_TLS":       "yes please",
		"MLFLOW_HTTP_REQUEST_MAX_RETRIES":    "-1",
		"MLFLOW_HTTP_REQUEST_TIMEOUT":        "soon",
		"MLFLOW_TRACKING_URI":                "ftp://x",
		"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "-2",
	} {
		old := os.Getenv(k)
		t.Setenv(k, v)
		if _, err := mlflow.ConfigFromEnv(); !errors.Is(err, mlflow.ErrInvalidConfig) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
		t.Setenv(k, old)
	}
	if _, err := mlflow.New(mlflow.Config{TrackingURI: "http://u:p@host"}, nil); !errors.Is(err, mlflow.ErrInvalidConfig) {
		t.Errorf("credentials in URI: %v", err)
	}
	if _, err := mlflow.New(mlflow.Config{TrackingURI: "http://host", ServerCertPath: "/nonexistent.pem"}, nil); !errors.Is(err, mlflow.ErrInvalidConfig) {
		t.Errorf("missing CA file: %v", err)
	}
}

// TestDownloadURIIndirection: some servers answer get-download-uri with a
// models:/ URI; it is resolved again, and a loop is refused, not followed forever.
func TestDownloadURIIndirection(t *testing.T) {
	s := mlflowtest.New(t)
	v1 := s.AddVersion(model, mlflowtest.Version{Files: modelFiles()})
	v2 := s.AddVersion(model, mlflowtest.Version{Files: map[string][]byte{"model.onnx": []byte("other")}})
	s.SetDownloadURI(model, v2, "models:/"+model+"/"+v1)
	c := newClient(t, fastConfig(s.URL))
	dst := t.TempDir()
	if _, err := c.DownloadDir(context.Background(), "models:/"+model+"/"+v2, dst, 0); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dst); !bytes.Equal(got["model.onnx"], modelFiles()["model.onnx"]) {
		t.Errorf("indirection not followed")
	}
	s.SetDownloadURI(model, v1, "models:/"+model+"/"+v1)
	if _, err := c.DownloadDir(context.Background(), "models:/"+model+"/"+v1, t.TempDir(), 0); !errors.Is(err, mlflow.ErrUnsupportedURI) {
		t.Errorf("self-referencing download uri: %v", err)
	}
}

func TestTLSOptions(t *testing.T) {
	s := mlflowtest.NewTLS(t)
	s.SetAlias(model, "champion", s.AddVersion(model, mlflowtest.Version{Files: modelFiles()}))
	ctx := context.Background()

	cfg := fastConfig(s.URL)
	cfg.MaxRetries = -1
	if _, err := newClient(t, cfg).VersionByAlias(ctx, model, "champion"); err == nil {
		t.Errorf("self-signed server accepted without a CA or insecure_tls")
	}
	cfg.InsecureTLS = true
	if _, err := newClient(t, cfg).VersionByAlias(ctx, model, "champion"); err != nil {
		t.Errorf("insecure_tls: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.InsecureTLS, cfg.ServerCertPath = false, ca
	if _, err := newClient(t, cfg).DownloadDir(ctx, "models:/"+model+"@champion", t.TempDir(), 0); err != nil {
		t.Errorf("server_cert_path: %v", err)
	}
	cfg.InsecureTLS = true
	if _, err := mlflow.New(cfg, nil); !errors.Is(err, mlflow.ErrInvalidConfig) {
		t.Errorf("both TLS options: %v", err)
	}
}
