package mlflow_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdall/edged/infer/mlflow"
	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
)

// Ensure that directories count toward the entry cap: a listing of 20,000 directories
// made 20,001 requests and mkdirs; it must fail on the first listing, before any mkdir.
func TestDownloadDirEntryCapCountsDirectories(t *testing.T) {
	s := mlflowtest.New(t)
	v := s.AddVersion(model, mlflowtest.Version{Files: modelFiles()})
	s.ListDirectoriesOnly(20000)
	dst := t.TempDir()
	_, err := newClient(t, fastConfig(s.URL)).DownloadDir(context.Background(), s.Source(model, v), dst, 0)
	if !errors.Is(err, mlflow.ErrBadResponse) || !strings.Contains(err.Error(), "more than 10000 entries") {
		t.Fatalf("err = %v, want ErrBadResponse naming the entry cap", err)
	}
	if n := s.Hits(mlflowtest.RouteArtifactList); n != 1 {
		t.Errorf("%d listing requests, want 1", n)
	}
	if made, _ := os.ReadDir(dst); len(made) != 0 {
		t.Errorf("%d entries created in the destination", len(made))
	}
}

// Ensure that the sizes a listing declares are held against the download limit before a
// file is fetched: a declared 1 GiB artifact once filled the state directory.
func TestDownloadDirByteLimit(t *testing.T) {
	s := mlflowtest.New(t)
	v := s.AddVersion(model, mlflowtest.Version{Files: modelFiles()})
	c := newClient(t, fastConfig(s.URL))
	ctx := context.Background()
	// The real version is ~130 kB: a limit below that stops it, one above lets it through.
	if _, err := c.DownloadDir(ctx, s.Source(model, v), t.TempDir(), 200_000); err != nil {
		t.Fatalf("within the limit: %v", err)
	}
	if _, err := c.DownloadDir(ctx, s.Source(model, v), t.TempDir(), 50_000); !errors.Is(err, mlflow.ErrTooLarge) {
		t.Fatalf("over the limit: %v, want ErrTooLarge", err)
	}
	s.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"files": [{"path": "model.onnx", "is_dir": false, "file_size": 1073741824}]}`)
	})
	filesBefore := s.Hits(mlflowtest.RouteArtifactFile)
	dst := t.TempDir()
	_, err := c.DownloadDir(ctx, s.Source(model, v), dst, 100<<20)
	if !errors.Is(err, mlflow.ErrTooLarge) || !strings.Contains(err.Error(), "1073741824 bytes, the limit is 104857600") {
		t.Fatalf("declared 1 GiB: %v, want ErrTooLarge stating both sizes", err)
	}
	if n := s.Hits(mlflowtest.RouteArtifactFile) - filesBefore; n != 0 {
		t.Errorf("%d files fetched past the limit", n)
	}
	if _, err := os.Stat(filepath.Join(dst, "model.onnx")); !os.IsNotExist(err) {
		t.Errorf("model.onnx written: %v", err)
	}
	// A size beyond any disk is malformed, and cannot overflow the sum.
	s.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"files": [{"path": "a", "file_size": 9223372036854775807}, {"path": "b", "file_size": 9223372036854775807}]}`)
	})
	if _, err := c.DownloadDir(ctx, s.Source(model, v), t.TempDir(), 1<<30); !errors.Is(err, mlflow.ErrBadResponse) {
		t.Fatalf("file_size 2^63-1: %v, want ErrBadResponse", err)
	}
}
