package modelsync

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultEntryFile is the ONNX file name when MLmodel does not say otherwise
// (mlflow.onnx's _MODEL_DATA_SUBPATH).
const DefaultEntryFile = "model.onnx"

// maxMLmodelBytes bounds the MLmodel read: it is a small YAML file.
const maxMLmodelBytes = 1 << 20

// EntryFile returns the ONNX entry file of a model directory, relative to
// dir, as MLmodel's flavors.onnx.data names it (DefaultEntryFile when MLmodel
// or the key is absent). The file must exist inside dir. Verifiers call it on
// the staged directory they are given.
func EntryFile(dir string) (string, error) {
	entry := DefaultEntryFile
	f, err := os.Open(filepath.Join(dir, "MLmodel"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrBadModelDir, err)
	default:
		b, err := io.ReadAll(io.LimitReader(f, maxMLmodelBytes+1))
		f.Close()
		if err != nil {
			return "", fmt.Errorf("%w: read MLmodel: %w", ErrBadModelDir, err)
		}
		if len(b) > maxMLmodelBytes {
			return "", fmt.Errorf("%w: MLmodel is larger than %d bytes", ErrBadModelDir, maxMLmodelBytes)
		}
		var m struct {
			Flavors struct {
				ONNX struct {
					Data string `yaml:"data"`
				} `yaml:"onnx"`
			} `yaml:"flavors"`
		}
		if err := yaml.Unmarshal(b, &m); err != nil {
			return "", fmt.Errorf("%w: parse MLmodel: %w", ErrBadModelDir, err)
		}
		if d := m.Flavors.ONNX.Data; d != "" {
			entry = d
		}
	}
	clean := path.Clean(entry)
	if path.IsAbs(clean) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsAny(clean, "\\\x00") {
		return "", fmt.Errorf("%w: MLmodel flavors.onnx.data %q leaves the model directory", ErrBadModelDir, entry)
	}
	fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(clean)))
	if err != nil {
		return "", fmt.Errorf("%w: entry file %q: %w", ErrBadModelDir, clean, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: entry file %q is not a regular file", ErrBadModelDir, clean)
	}
	return clean, nil
}

// fileSHA256 returns the lowercase hex SHA-256 of a file.
func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
