package mlflow_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
)

// BenchmarkDownloadDir measures a model directory of 8 MiB (entry file plus
// external-data sidecar) through the fake's chunked proxy.
func BenchmarkDownloadDir(b *testing.B) {
	s := mlflowtest.New(b)
	files := map[string][]byte{
		"MLmodel":                              []byte("flavors:\n  onnx:\n    data: model.onnx\n"),
		"model.onnx":                           bytes.Repeat([]byte{1}, 64<<10),
		"0c9f2a3e-2b1d-11ef-9a1b-0242ac120002": bytes.Repeat([]byte{2}, 8<<20),
	}
	v := s.AddVersion(model, mlflowtest.Version{Files: files})
	c, err := newBenchClient(s.URL)
	if err != nil {
		b.Fatal(err)
	}
	uri := s.Source(model, v)
	b.SetBytes(int64(len(files["model.onnx"]) + len(files["0c9f2a3e-2b1d-11ef-9a1b-0242ac120002"]) + len(files["MLmodel"])))
	for b.Loop() {
		dst, err := os.MkdirTemp(b.TempDir(), "dl")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.DownloadDir(context.Background(), uri, dst, 0); err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(dst)
	}
}
