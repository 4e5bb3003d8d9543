package mlflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// Limits on what one DownloadDir will fetch, so a hostile listing cannot make
// the daemon walk forever or fill the disk with entries. Directories count as
// entries: each costs a listing request and a mkdir.
const (
	maxResolveDepth = 8
	maxDirDepth     = 16
	maxEntries      = 10000
)

const proxiedPrefix = "/api/2.0/mlflow-artifacts/artifacts"

// proxied is an artifact location served by the tracking server's artifact
// proxy: base is scheme://host[/prefix], rel the path below the proxy root.
type proxied struct {
	base *url.URL
	rel  string
}

func (p proxied) listURL(rel string) *url.URL {
	u := *p.base
	u.Path = strings.TrimRight(u.Path, "/") + proxiedPrefix
	u.RawPath = ""
	u.RawQuery = url.Values{"path": {rel}}.Encode()
	return &u
}

func (p proxied) fileURL(rel string) *url.URL {
	u := *p.base
	u.Path = strings.TrimRight(u.Path, "/") + proxiedPrefix + "/" + rel
	u.RawPath = ""
	u.RawQuery = ""
	return &u
}

var (
	loggedModelID = regexp.MustCompile(`^m-[0-9a-fA-F]{32}$`)
	stageNames    = []string{"None", "Staging", "Production", "Archived"}
)

// cleanRel normalises a proxied path ("//+" → "/", no leading slash) and
// refuses ".." elements.
func cleanRel(p string) (string, error) {
	var parts []string
	for _, e := range strings.Split(p, "/") {
		switch e {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: %q", ErrUnsafePath, p)
		}
		if strings.ContainsAny(e, "\\\x00") {
			return "", fmt.Errorf("%w: %q", ErrUnsafePath, p)
		}
		parts = append(parts, e)
	}
	return strings.Join(parts, "/"), nil
}

// resolve maps any supported artifact URI to a proxied location, following
// runs:/ and models:/ indirections as MLflow's artifact repositories do
// (https://mlflow.org/docs/latest/tracking/artifacts-stores.html).
func (c *Client) resolve(ctx context.Context, uri string, depth int) (proxied, error) {
	if depth > maxResolveDepth {
		return proxied{}, fmt.Errorf("%w: %q: too many indirections", ErrUnsupportedURI, uri)
	}
	switch {
	case strings.HasPrefix(uri, "mlflow-artifacts:"):
		u, err := url.Parse(uri)
		if err != nil {
			return proxied{}, fmt.Errorf("%w: %q: %w", ErrUnsupportedURI, uri, err)
		}
		base := *c.base
		if u.Host != "" {
			// mlflow-artifacts://host:port/P keeps the tracking URI's scheme.
			base = url.URL{Scheme: c.base.Scheme, Host: u.Host}
		}
		rel, err := cleanRel(u.Path)
		if err != nil {
			return proxied{}, err
		}
		return proxied{base: &base, rel: rel}, nil

	case strings.HasPrefix(uri, "http://"), strings.HasPrefix(uri, "https://"):
		u, err := url.Parse(uri)
		if err != nil {
			return proxied{}, fmt.Errorf("%w: %q: %w", ErrUnsupportedURI, uri, err)
		}
		i := strings.Index(u.Path, proxiedPrefix)
		if i < 0 || (len(u.Path) > i+len(proxiedPrefix) && u.Path[i+len(proxiedPrefix)] != '/') {
			return proxied{}, fmt.Errorf("%w: %q is not an mlflow-artifacts proxy URL", ErrUnsupportedURI, uri)
		}
		rel, err := cleanRel(u.Path[i+len(proxiedPrefix):])
		if err != nil {
			return proxied{}, err
		}
		base := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path[:i]}
		return proxied{base: &base, rel: rel}, nil

	case strings.HasPrefix(uri, "runs:/"):
		rest := strings.TrimLeft(strings.TrimPrefix(uri, "runs:/"), "/")
		runID, rel, _ := strings.Cut(rest, "/")
		if runID == "" {
			return proxied{}, fmt.Errorf("%w: %q: no run id", ErrUnsupportedURI, uri)
		}
		root, err := c.runArtifactURI(ctx, runID)
		if err != nil {
			return proxied{}, err
		}
		next := strings.TrimRight(root, "/")
		if rel != "" {
			next += "/" + rel
		}
		return c.resolve(ctx, next, depth+1)

	case strings.HasPrefix(uri, "models:/"):
		next, err := c.resolveModelsURI(ctx, uri)
		if err != nil {
			return proxied{}, err
		}
		return c.resolve(ctx, next, depth+1)
	}
	scheme, _, _ := strings.Cut(uri, ":")
	return proxied{}, fmt.Errorf("%w: %q: scheme %q needs the store's own SDK, not MLflow REST", ErrUnsupportedURI, uri, scheme)
}

// resolveModelsURI turns models:/… into the next URI to resolve.
func (c *Client) resolveModelsURI(ctx context.Context, uri string) (string, error) {
	rest := strings.TrimLeft(strings.TrimPrefix(uri, "models:/"), "/")
	if loggedModelID.MatchString(rest) {
		return c.loggedModelArtifactURI(ctx, rest)
	}
	if name, alias, ok := cutLast(rest, "@"); ok && name != "" && alias != "" && !strings.Contains(alias, "/") {
		mv, err := c.VersionByAlias(ctx, name, alias)
		if err != nil {
			return "", err
		}
		return c.DownloadURI(ctx, name, mv.Version)
	}
	name, suffix, ok := cutLast(rest, "/")
	if !ok || name == "" || suffix == "" {
		return "", fmt.Errorf("%w: %q: want models:/name/version, models:/name/stage, models:/name@alias or models:/m-<id>", ErrUnsupportedURI, uri)
	}
	if isDigits(suffix) {
		return c.DownloadURI(ctx, name, suffix)
	}
	stage := ""
	if !strings.EqualFold(suffix, "latest") {
		for _, s := range stageNames {
			if strings.EqualFold(s, suffix) {
				stage = s
			}
		}
		if stage == "" {
			return "", fmt.Errorf("%w: %q: %q is not a version, stage or \"latest\"", ErrUnsupportedURI, uri, suffix)
		}
	}
	mv, err := c.LatestVersion(ctx, name, stage)
	if err != nil {
		return "", err
	}
	return c.DownloadURI(ctx, name, mv.Version)
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (c *Client) runArtifactURI(ctx context.Context, runID string) (string, error) {
	b, err := c.getJSON(ctx, c.api("runs/get", url.Values{"run_id": {runID}}))
	if err != nil {
		return "", fmt.Errorf("mlflow: run %s: %w", runID, err)
	}
	var r struct {
		Run struct {
			Info struct {
				ArtifactURI flexString `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := decodeJSON(b, &r); err != nil {
		return "", fmt.Errorf("mlflow: run %s: %w", runID, err)
	}
	if r.Run.Info.ArtifactURI == "" {
		return "", fmt.Errorf("mlflow: run %s: %w: no artifact_uri", runID, ErrBadResponse)
	}
	return string(r.Run.Info.ArtifactURI), nil
}

func (c *Client) loggedModelArtifactURI(ctx context.Context, id string) (string, error) {
	b, err := c.getJSON(ctx, c.api("logged-models/"+id, nil))
	if err != nil {
		return "", fmt.Errorf("mlflow: logged model %s: %w", id, err)
	}
	var r struct {
		Model struct {
			Info struct {
				ArtifactURI flexString `json:"artifact_uri"`
			} `json:"info"`
		} `json:"model"`
	}
	if err := decodeJSON(b, &r); err != nil {
		return "", fmt.Errorf("mlflow: logged model %s: %w", id, err)
	}
	if r.Model.Info.ArtifactURI == "" {
		return "", fmt.Errorf("mlflow: logged model %s: %w: no artifact_uri", id, ErrBadResponse)
	}
	return string(r.Model.Info.ArtifactURI), nil
}

// DownloadDir fetches the whole artifact directory at uri into dst, which
// must exist and should be empty. It accepts mlflow-artifacts:/…, proxied
// http(s) URLs, runs:/<run>/<rel>, models:/name/N, models:/name@alias,
// models:/name/Stage, models:/name/latest and models:/m-<id>. Every file is
// checked against the listing's file_size (absent means 0 bytes), and the sizes
// listed so far must stay within maxBytes (≤ 0: no bound) before a file is
// fetched, so a version declaring more than the disk can hold fails with
// ErrTooLarge without writing it. At most 10,000 entries, directories
// included, are listed. Unsafe listing entries fail with ErrUnsafePath before
// anything is written for them. On error, dst may hold partial files: the
// caller owns its cleanup.
func (c *Client) DownloadDir(ctx context.Context, uri, dst string, maxBytes int64) ([]File, error) {
	loc, err := c.resolve(ctx, uri, 0)
	if err != nil {
		return nil, fmt.Errorf("mlflow: download %s: %w", uri, err)
	}
	d := &download{loc: loc, dst: dst, maxBytes: maxBytes}
	if err := c.downloadTree(ctx, d, "", 0); err != nil {
		return d.files, fmt.Errorf("mlflow: download %s: %w", uri, err)
	}
	if len(d.files) == 0 {
		return nil, fmt.Errorf("mlflow: download %s: %w", uri, ErrEmptyArtifacts)
	}
	return d.files, nil
}

// download is one DownloadDir in progress.
type download struct {
	loc      proxied
	dst      string
	maxBytes int64
	files    []File
	entries  int   // files and directories listed
	declared int64 // bytes the listings declared so far
}

func (c *Client) downloadTree(ctx context.Context, d *download, sub string, depth int) error {
	if depth > maxDirDepth {
		return fmt.Errorf("%w: %q nests deeper than %d", ErrBadResponse, sub, maxDirDepth)
	}
	dir := path.Join(d.loc.rel, sub)
	b, err := c.getJSON(ctx, d.loc.listURL(dir))
	if err != nil {
		return fmt.Errorf("list %q: %w", dir, err)
	}
	entries, err := decodeFileList(b, dir)
	if err != nil {
		return err
	}
	if d.entries += len(entries); d.entries > maxEntries {
		return fmt.Errorf("%w: more than %d entries (files and directories)", ErrBadResponse, maxEntries)
	}
	for _, e := range entries {
		rel := path.Join(sub, e.Name)
		local := filepath.Join(d.dst, filepath.FromSlash(rel))
		if e.IsDir {
			if err := os.Mkdir(local, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", rel, err)
			}
			if err := c.downloadTree(ctx, d, rel, depth+1); err != nil {
				return err
			}
			continue
		}
		// file_size is at most 2^48 (decodeFileList), so the sum cannot overflow.
		if d.declared += e.SizeBytes; d.maxBytes > 0 && d.declared > d.maxBytes {
			return fmt.Errorf("%s: %w: the listings declare at least %d bytes, the limit is %d", rel, ErrTooLarge, d.declared, d.maxBytes)
		}
		n, err := c.downloadFile(ctx, d.loc.fileURL(path.Join(d.loc.rel, rel)), local, e.SizeBytes)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if n != e.SizeBytes {
			return fmt.Errorf("%s: %w: got %d bytes, listing says %d", rel, ErrSizeMismatch, n, e.SizeBytes)
		}
		d.files = append(d.files, File{Path: rel, SizeBytes: n})
	}
	return nil
}

// downloadFile streams one file to local, which must not exist yet (O_EXCL:
// a listing naming the same file twice, or a planted symlink, cannot redirect
// the write). It stops one byte past wantBytes so an oversized answer is
// detected without filling the disk.
func (c *Client) downloadFile(ctx context.Context, u *url.URL, local string, wantBytes int64) (int64, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, u: u})
	if err != nil {
		return 0, err
	}
	defer resp.Close()
	f, err := os.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, wantBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, ErrTruncated) || errors.Is(err, ErrTimeout) || ctx.Err() != nil {
			return n, err
		}
		return n, fmt.Errorf("write: %w", err)
	}
	return n, nil
}
