package mlflow_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heimdall/edged/infer/mlflow"
)

// FuzzDecodeModelVersion: any body either decodes to a usable version or
// fails with ErrBadResponse; it never panics.
func FuzzDecodeModelVersion(f *testing.F) {
	f.Add([]byte(`{"model_version": {"name": "edge-detector", "version": "2", "creation_timestamp": 1718300000000, "status": "READY", "tags": [{"key": "k", "value": "v"}], "aliases": ["champion"]}}`))
	f.Add([]byte(`{"model_version": {"name": "m", "version": 3, "creation_timestamp": "1718300000000"}}`))
	f.Add([]byte(`{"model_version": {"name": "m", "version": "-1"}}`))
	f.Add([]byte(`{"model_version": null}`))
	f.Add([]byte(`{"model_version": {"name": "m", "version": "1", "last_updated_timestamp": 1e300}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		mv, err := mlflow.DecodeModelVersion(b)
		if err != nil {
			if !errors.Is(err, mlflow.ErrBadResponse) {
				t.Fatalf("error %v does not match ErrBadResponse", err)
			}
			return
		}
		if mv.Name == "" {
			t.Fatalf("decoded a version without a name: %+v", mv)
		}
		if n, err := mv.Number(); err != nil || n < 0 {
			t.Fatalf("decoded an unusable version %q", mv.Version)
		}
	})
}

// FuzzDecodeModelVersions covers list answers (latest-versions, search).
func FuzzDecodeModelVersions(f *testing.F) {
	f.Add([]byte(`{"model_versions": [{"name": "m", "version": "1"}, {"name": "m", "version": "2"}], "next_page_token": "eyJvZmZzZXQiOiAyfQ=="}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"model_versions": [null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, _, err := mlflow.DecodeModelVersions(b)
		if err != nil {
			if !errors.Is(err, mlflow.ErrBadResponse) {
				t.Fatalf("error %v does not match ErrBadResponse", err)
			}
			return
		}
		for _, v := range vs {
			if _, err := v.Number(); err != nil {
				t.Fatalf("unusable version %q", v.Version)
			}
		}
	})
}

// FuzzDecodeFileList: whatever a listing says, every accepted entry is one
// safe path element.
func FuzzDecodeFileList(f *testing.F) {
	f.Add([]byte(`{"files": [{"path": "MLmodel", "is_dir": false, "file_size": 612}, {"path": "code", "is_dir": true}]}`), "1/r/artifacts/model")
	f.Add([]byte(`{"root_uri": "mlflow-artifacts:/1/r/artifacts", "files": [{"path": "model/MLmodel", "is_dir": false, "file_size": "612"}]}`), "model")
	f.Add([]byte(`{"files": [{"path": "../../x", "is_dir": false, "file_size": 3}]}`), "")
	f.Add([]byte(`{"files": [{"path": "a\\..\\b", "file_size": -1}]}`), "d")
	f.Fuzz(func(t *testing.T, b []byte, dir string) {
		files, err := mlflow.DecodeFileList(b, dir)
		if err != nil {
			if !errors.Is(err, mlflow.ErrBadResponse) && !errors.Is(err, mlflow.ErrUnsafePath) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			return
		}
		for _, fl := range files {
			name := strings.TrimSuffix(fl.Path, "/")
			if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || fl.SizeBytes < 0 {
				t.Fatalf("unsafe entry accepted: %+v", fl)
			}
		}
	})
}
