package mlflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Version statuses as MLflow names them; sync only takes StatusReady.
const (
	StatusReady               = "READY"
	StatusPendingRegistration = "PENDING_REGISTRATION"
	StatusFailedRegistration  = "FAILED_REGISTRATION"
)

// ModelVersion is one version of a registered model as the registry serves it.
type ModelVersion struct {
	Name    string
	Version string // decimal, e.g. "3"
	// CreationTimestampMs and LastUpdatedTimestampMs are Unix epoch milliseconds.
	CreationTimestampMs    int64
	LastUpdatedTimestampMs int64
	UserID                 string
	CurrentStage           string // "None", "Staging", "Production", "Archived"
	Description            string
	Source                 string
	RunID                  string
	Status                 string
	StatusMessage          string
	Tags                   map[string]string // nil when untagged
	RunLink                string
	Aliases                []string // search results never carry aliases
}

// Number parses Version.
func (mv ModelVersion) Number() (int64, error) {
	n, err := strconv.ParseInt(mv.Version, 10, 64)
	if err != nil || !isDigits(mv.Version) {
		return 0, fmt.Errorf("%w: version %q is not a number", ErrBadResponse, mv.Version)
	}
	return n, nil
}

// File is one downloaded artifact: Path is slash-separated and relative to the
// destination directory; SizeBytes is what was written (and what was listed).
type File struct {
	Path      string
	SizeBytes int64
}

// flexInt64 decodes an int64 sent as a JSON number or as a string, because
// older MLflow releases and compatible servers render int64 as strings.
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*f = 0
			return nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// A float rendering such as 1.718e12 is tolerated when it is integral.
		fl, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || fl != float64(int64(fl)) {
			return fmt.Errorf("int64 field: %q is not an integer", s)
		}
		n = int64(fl)
	}
	*f = flexInt64(n)
	return nil
}

// flexString decodes a string sent as a string or a bare number (a version
// rendered as 3 instead of "3").
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("string field: %s is neither a string nor a number", truncate(string(b), 40))
	}
	*f = flexString(n.String())
	return nil
}

type wireTag struct {
	Key   flexString `json:"key"`
	Value flexString `json:"value"`
}

type wireModelVersion struct {
	Name                 flexString   `json:"name"`
	Version              flexString   `json:"version"`
	CreationTimestamp    flexInt64    `json:"creation_timestamp"`
	LastUpdatedTimestamp flexInt64    `json:"last_updated_timestamp"`
	UserID               flexString   `json:"user_id"`
	CurrentStage         flexString   `json:"current_stage"`
	Description          flexString   `json:"description"`
	Source               flexString   `json:"source"`
	RunID                flexString   `json:"run_id"`
	Status               flexString   `json:"status"`
	StatusMessage        flexString   `json:"status_message"`
	Tags                 []wireTag    `json:"tags"`
	RunLink              flexString   `json:"run_link"`
	Aliases              []flexString `json:"aliases"`
}

func (w wireModelVersion) public() ModelVersion {
	mv := ModelVersion{
		Name:                   string(w.Name),
		Version:                strings.TrimSpace(string(w.Version)),
		CreationTimestampMs:    int64(w.CreationTimestamp),
		LastUpdatedTimestampMs: int64(w.LastUpdatedTimestamp),
		UserID:                 string(w.UserID),
		CurrentStage:           string(w.CurrentStage),
		Description:            string(w.Description),
		Source:                 string(w.Source),
		RunID:                  string(w.RunID),
		Status:                 string(w.Status),
		StatusMessage:          string(w.StatusMessage),
		RunLink:                string(w.RunLink),
	}
	if len(w.Tags) > 0 {
		mv.Tags = make(map[string]string, len(w.Tags))
		for _, t := range w.Tags {
			mv.Tags[string(t.Key)] = string(t.Value)
		}
	}
	for _, a := range w.Aliases {
		mv.Aliases = append(mv.Aliases, string(a))
	}
	return mv
}

// validate rejects versions a caller cannot use: sync keys directories and
// state on the version number.
func (w wireModelVersion) validate() error {
	mv := w.public()
	if mv.Name == "" {
		return fmt.Errorf("%w: model_version has no name", ErrBadResponse)
	}
	if _, err := mv.Number(); err != nil {
		return err
	}
	return nil
}

type wireFileInfo struct {
	Path     flexString `json:"path"`
	IsDir    bool       `json:"is_dir"`
	FileSize flexInt64  `json:"file_size"`
}

type wireFileList struct {
	RootURI       flexString     `json:"root_uri"`
	Files         []wireFileInfo `json:"files"`
	NextPageToken flexString     `json:"next_page_token"`
}

// decodeJSON unmarshals a 200 body; unknown fields are ignored on purpose
// (3.x adds fields that older clients must skip).
func decodeJSON(body []byte, out any) error {
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %w (body starts %q)", ErrBadResponse, err, truncate(string(body), 80))
	}
	return nil
}

// DecodeModelVersion decodes a {"model_version": …} answer (alias and
// model-versions/get). It is exported for fuzzing and for fakes.
func DecodeModelVersion(body []byte) (ModelVersion, error) {
	var r struct {
		ModelVersion *wireModelVersion `json:"model_version"`
	}
	if err := decodeJSON(body, &r); err != nil {
		return ModelVersion{}, err
	}
	if r.ModelVersion == nil {
		return ModelVersion{}, fmt.Errorf("%w: no model_version in answer", ErrBadResponse)
	}
	if err := r.ModelVersion.validate(); err != nil {
		return ModelVersion{}, err
	}
	return r.ModelVersion.public(), nil
}

// DecodeModelVersions decodes a {"model_versions": […], "next_page_token"}
// answer (get-latest-versions, search). An omitted list is an empty one.
func DecodeModelVersions(body []byte) (versions []ModelVersion, nextPageToken string, err error) {
	var r struct {
		ModelVersions []wireModelVersion `json:"model_versions"`
		NextPageToken flexString         `json:"next_page_token"`
	}
	if err := decodeJSON(body, &r); err != nil {
		return nil, "", err
	}
	for i, w := range r.ModelVersions {
		if err := w.validate(); err != nil {
			return nil, "", fmt.Errorf("model_versions[%d]: %w", i, err)
		}
		versions = append(versions, w.public())
	}
	return versions, string(r.NextPageToken), nil
}

// fileEntry is one validated listing entry.
type fileEntry struct {
	Name      string // one path element, never "." or ".."
	IsDir     bool
	SizeBytes int64
}

// DecodeFileList decodes an artifact listing ({"files": [...]}) taken at dir
// and returns each entry's single path element. Proxied listings give
// basenames, run listings give run-relative paths ("model/MLmodel"); both are
// reduced to the element below dir. Anything that could escape dir fails with
// ErrUnsafePath.
func DecodeFileList(body []byte, dir string) ([]File, error) {
	es, err := decodeFileList(body, dir)
	if err != nil {
		return nil, err
	}
	out := make([]File, len(es))
	for i, e := range es {
		p := e.Name
		if e.IsDir {
			p += "/"
		}
		out[i] = File{Path: p, SizeBytes: e.SizeBytes}
	}
	return out, nil
}

// maxFileSize bounds a listed file_size (256 TiB), so that the sizes of a whole
// listing (at most maxEntries of them) add up without overflowing an int64.
const maxFileSize = 1 << 48

func decodeFileList(body []byte, dir string) ([]fileEntry, error) {
	var r wireFileList
	if err := decodeJSON(body, &r); err != nil {
		return nil, err
	}
	dir = strings.Trim(dir, "/")
	seen := make(map[string]bool, len(r.Files))
	out := make([]fileEntry, 0, len(r.Files))
	for _, f := range r.Files {
		name := string(f.Path)
		if dir != "" && strings.HasPrefix(name, dir+"/") {
			name = name[len(dir)+1:]
		}
		name = strings.TrimSuffix(name, "/")
		if err := checkElement(name); err != nil {
			return nil, fmt.Errorf("listing of %q: entry %q: %w", dir, truncate(string(f.Path), 80), err)
		}
		if f.FileSize < 0 || f.FileSize > maxFileSize {
			return nil, fmt.Errorf("%w: listing of %q: %q has file_size %d, want 0 to %d", ErrBadResponse, dir, name, f.FileSize, int64(maxFileSize))
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: listing of %q: %q listed twice", ErrBadResponse, dir, name)
		}
		seen[name] = true
		out = append(out, fileEntry{Name: name, IsDir: f.IsDir, SizeBytes: int64(f.FileSize)})
	}
	return out, nil
}

// checkElement accepts exactly one safe path element.
func checkElement(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return ErrUnsafePath
	case strings.ContainsAny(name, "/\\\x00"):
		return ErrUnsafePath
	case len(name) > 255:
		return ErrUnsafePath
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
