// Package modelsync keeps the active ONNX model in step with the MLflow
// Model Registry: it follows an alias (or the newest version in a stage),
// downloads a new READY version into a staging directory, verifies it,
// installs it atomically under <StateDir>/models/<name>/<version>/, hands it
// to the hot swap and remembers it, so a restart without the network comes
// back on the last good model.
//
// # Caveats
//
// A failed attempt never touches the active model; it is retried on the next
// poll. Exactly one version is active: the one the state record names, never
// guessed from bytes (two versions may have identical files).
//
// Rollback and Activate are operator decisions that outrank the registry, but
// only for as long as the registry keeps naming the same version: a version
// rolled back from (or activated away from) stays out while the alias or stage
// still names it, and sync follows the registry again as soon as it names
// another one, including, later, the version once rolled back from.
// Rollback goes to the last version that served before the active one; the
// versions that served form a stack kept in the state record, so a second
// rollback goes further back, also after a restart without the network.
// Pruning (Config.Keep) never removes the active version nor the rollback target.
package modelsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heimdall/edged/configs/safefile"
	"github.com/heimdall/edged/infer/mlflow"
	"github.com/heimdall/edged/internal/backoff"
)

// Verifier checks a staged model directory before it is installed: the daemon's
// implementation loads it in ONNX Runtime, checks the contract and runs a
// smoke inference. dir is the staging directory (EntryFile finds the ONNX
// file); an error rejects the version. Fields of the returned Installed are
// ignored except a non-empty EntryFile, which overrides MLmodel's choice.
type Verifier interface {
	Verify(ctx context.Context, dir string, mv mlflow.ModelVersion) (Installed, error)
}

// Activator swaps an installed model in (the daemon's hot swap). It must leave
// the current model serving when it returns an error.
type Activator interface {
	Activate(ctx context.Context, m Installed) error
}

// State persists small values across restarts (store.DB satisfies it).
type State interface {
	GetState(key string) ([]byte, error)
	PutState(key string, val []byte) error
}

// Installed is one model version on disk.
type Installed struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Dir is the absolute install directory, <StateDir>/models/<name>/<version>.
	Dir string `json:"dir"`
	// EntryFile is the ONNX file relative to Dir (slash-separated), e.g. "model.onnx".
	EntryFile string `json:"entry_file"`
	// SHA256 is the entry file's lowercase hex digest, computed at install.
	SHA256 string `json:"sha256"`
	// Since is when the version was installed.
	Since time.Time `json:"since"`
}

// EntryPath is the absolute path of the entry file.
func (m Installed) EntryPath() string { return filepath.Join(m.Dir, filepath.FromSlash(m.EntryFile)) }

// TagSHA256 is the version tag holding the expected SHA-256 of the entry file.
const TagSHA256 = "edged.sha256"

// tagFileSHA256Prefix + <relative path> tags another file's SHA-256, for model
// directories with more than the entry file.
const tagFileSHA256Prefix = "sha256."

// metaFile records an install inside its directory, so List needs no state.
const metaFile = ".edged-installed.json"

// Config says what to follow and where to keep it.
type Config struct {
	// ModelName is the registered model to follow.
	ModelName string `yaml:"model_name"`
	// Alias is followed when set (preferred); otherwise the newest version
	// in Stage ("" = newest in any stage).
	Alias string `yaml:"alias"`
	Stage string `yaml:"stage"`
	// StateDir holds models/<name>/<version>/ and the staging directories.
	StateDir string `yaml:"state_dir"`
	// Interval between polls (default 5 min) plus a random 0..Jitter
	// (default Interval/10), so a fleet does not poll in step.
	Interval time.Duration `yaml:"interval"`
	Jitter   time.Duration `yaml:"jitter"`
	// Keep is how many versions stay on disk (default 3). The active version
	// and the rollback target are never removed, so two may stay with Keep 1.
	Keep int `yaml:"keep"`
	// StateNotFound is the State's "missing key" error (store.ErrNotFound);
	// a nil or empty value also counts as missing.
	StateNotFound error `yaml:"-"`
	// MaxDownloadBytes bounds the bytes one version's artifacts may declare. 0
	// means a quarter of the space free on StateDir's filesystem, measured
	// before each download; a positive value is also held to the free space.
	MaxDownloadBytes int64 `yaml:"max_download_bytes"`
	// AllowMissingChecksum installs a version that carries no edged.sha256 tag.
	// By default such a version is refused before it is downloaded: without the
	// tag nothing ties the bytes on disk to what was registered.
	AllowMissingChecksum bool `yaml:"allow_missing_checksum"`
}

// Defaults for Config.
const (
	DefaultInterval = 5 * time.Minute
	DefaultKeep     = 3
)

// Validate checks cfg without I/O.
func (c Config) Validate() error {
	switch {
	case c.ModelName == "":
		return fmt.Errorf("%w: model_name is empty", ErrInvalidConfig)
	case strings.ContainsAny(c.ModelName, "/\\\x00") || c.ModelName == "." || c.ModelName == "..":
		return fmt.Errorf("%w: model_name %q cannot be a directory name", ErrInvalidConfig, c.ModelName)
	case c.StateDir == "":
		return fmt.Errorf("%w: state_dir is empty", ErrInvalidConfig)
	case c.Interval < 0 || c.Jitter < 0 || c.Keep < 0 || c.MaxDownloadBytes < 0:
		return fmt.Errorf("%w: interval, jitter, keep and max_download_bytes must not be negative", ErrInvalidConfig)
	case c.Alias != "" && c.Stage != "":
		return fmt.Errorf("%w: set alias or stage, not both", ErrInvalidConfig)
	}
	return nil
}

// Failure reasons counted in Stats.Failures.
const (
	ReasonAuth     = "auth"      // 401/403
	ReasonNotFound = "not_found" // model, alias or version missing
	ReasonServer   = "server"    // 5xx after retries, malformed answers
	ReasonTimeout  = "timeout"   // the server went silent
	ReasonNetwork  = "network"   // refused, DNS, reset
	ReasonTLS      = "tls"       // certificate not trusted, handshake failed
	ReasonDownload = "download"  // truncated or unwritable download
	ReasonSize     = "size"      // byte count differs from the listing, or beyond the download limit
	ReasonChecksum = "checksum"  // SHA-256 tag mismatch, or no tag when one is required
	ReasonModelDir = "model_dir" // no entry file, bad MLmodel, unsafe paths
	ReasonVerify   = "verify"    // Verifier refused
	ReasonInstall  = "install"   // local filesystem
	ReasonActivate = "activate"  // Activator refused
	ReasonState    = "state"     // State could not be written
	ReasonOther    = "other"
)

// FailureReasons lists every Reason* value, for metrics that export each at 0.
func FailureReasons() []string {
	return []string{ReasonAuth, ReasonNotFound, ReasonServer, ReasonTimeout, ReasonNetwork, ReasonTLS,
		ReasonDownload, ReasonSize, ReasonChecksum, ReasonModelDir, ReasonVerify, ReasonInstall,
		ReasonActivate, ReasonState, ReasonOther}
}

// Stats counts sync attempts for metrics.
type Stats struct {
	Attempts  uint64 // SyncOnce calls that ran
	Successes uint64 // attempts that ended without error (installed or up to date)
	Installs  uint64 // attempts that activated a new version
	// Failures counts failed attempts by reason (Reason* constants).
	Failures      map[string]uint64
	LastAttempt   time.Time
	LastSuccess   time.Time
	LastError     string
	ActiveVersion string
	// TargetVersion is what the alias or stage named at the last poll that
	// resolved it ("" before the first, as recorded across restarts).
	TargetVersion string
	// Divergence says why TargetVersion is not ActiveVersion (a Diverged*
	// value), "" when they agree or the target is unknown.
	Divergence string
}

// Syncer follows one registered model. Its methods are safe for concurrent
// use; operations on the model directory are serialised.
type Syncer struct {
	cfg    Config
	client *mlflow.Client
	verify Verifier
	act    Activator
	state  State
	log    *slog.Logger

	// syncMu lets one SyncOnce (or Restore) run at a time; op guards the
	// model directory and the state record. A sync holds op only to decide
	// and to install, never while downloading, so operator commands stay
	// responsive while MLflow is slow. Order: syncMu before op.
	syncMu sync.Mutex
	op     sync.Mutex

	mu    sync.Mutex // guards stats
	stats Stats
}

// New builds a Syncer. It does no I/O. c may be nil for a Syncer that only
// restores, lists, activates and rolls back.
func New(cfg Config, c *mlflow.Client, v Verifier, a Activator, st State, log *slog.Logger) (*Syncer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if v == nil || a == nil || st == nil {
		return nil, fmt.Errorf("%w: verifier, activator and state are required", ErrInvalidConfig)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = cfg.Interval / 10
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultKeep
	}
	if abs, err := filepath.Abs(cfg.StateDir); err == nil {
		cfg.StateDir = abs
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{cfg: cfg, client: c, verify: v, act: a, state: st, log: log,
		stats: Stats{Failures: map[string]uint64{}}}, nil
}

func (s *Syncer) modelsDir() string { return filepath.Join(s.cfg.StateDir, "models") }
func (s *Syncer) nameDir() string   { return filepath.Join(s.modelsDir(), s.cfg.ModelName) }
func (s *Syncer) stateKey() string  { return "modelsync/" + s.cfg.ModelName }

// Run polls until ctx ends, then returns nil. Failures are logged and
// counted by SyncOnce, and retried on the next poll.
func (s *Syncer) Run(ctx context.Context) error {
	if s.client == nil {
		return fmt.Errorf("%w: no mlflow client", ErrInvalidConfig)
	}
	for {
		_, _ = s.SyncOnce(ctx)
		if backoff.Sleep(ctx, s.cfg.Interval+rand.N(s.cfg.Jitter+1)) != nil {
			return nil
		}
	}
}

// SyncOnce makes one attempt: resolve the followed version; if it is READY,
// not active and not held by an operator's rollback or activation, download,
// verify, install, activate and record it, then prune old versions. changed
// reports a new active version. On failure the active model is untouched; the
// failure is logged once (Warn) and counted by reason, and the target's
// divergence reason records it.
func (s *Syncer) SyncOnce(ctx context.Context) (changed bool, err error) {
	if s.client == nil {
		return false, fmt.Errorf("%w: no mlflow client", ErrInvalidConfig)
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	s.stats.Attempts++
	s.stats.LastAttempt = time.Now()
	s.mu.Unlock()

	version, changed, err := s.syncOnce(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// Shutdown is not a sync failure.
			return false, err
		}
		reason := Reason(err)
		s.mu.Lock()
		s.stats.Failures[reason]++
		s.stats.LastError = err.Error()
		s.mu.Unlock()
		s.log.Warn("model sync failed; keeping the current model", "model", s.cfg.ModelName, "version", version, "reason", reason, "err", err)
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Successes++
	s.stats.LastSuccess = time.Now()
	s.stats.LastError = ""
	if changed {
		s.stats.Installs++
	}
	return changed, nil
}

func (s *Syncer) syncOnce(ctx context.Context) (version string, changed bool, err error) {
	var mv mlflow.ModelVersion
	if s.cfg.Alias != "" {
		mv, err = s.client.VersionByAlias(ctx, s.cfg.ModelName, s.cfg.Alias)
	} else {
		mv, err = s.client.LatestVersion(ctx, s.cfg.ModelName, s.cfg.Stage)
	}
	if err != nil {
		// The target is unknown this time: the recorded one stands.
		return "", false, err
	}
	version = mv.Version
	if _, err := mv.Number(); err != nil {
		return version, false, err
	}
	changed, err = s.syncTo(ctx, mv)
	if err != nil && ctx.Err() == nil {
		s.noteFailure(version, err)
	}
	return version, changed, err
}

// syncTo brings the active version to mv unless an operator holds it back.
func (s *Syncer) syncTo(ctx context.Context, mv mlflow.ModelVersion) (changed bool, err error) {
	if mv.Status != mlflow.StatusReady {
		s.log.Debug("followed version not ready", "model", mv.Name, "version", mv.Version, "status", mv.Status)
		s.op.Lock()
		defer s.op.Unlock()
		rec, _, err := s.load()
		if err != nil {
			return false, err
		}
		return false, s.follow(&rec, mv.Version, DivergedNotReady)
	}
	// Decide under op; an installed copy is activated without downloading.
	s.op.Lock()
	done, changed, err := s.useInstalled(ctx, mv)
	s.op.Unlock()
	if done || err != nil {
		return changed, err
	}

	// Download and verify without holding op.
	staging, m, err := s.stage(ctx, mv)
	if err != nil {
		return false, err
	}
	s.op.Lock()
	defer s.op.Unlock()
	rec, _, err := s.load()
	if err != nil {
		os.RemoveAll(staging)
		return false, err
	}
	if err := s.follow(&rec, mv.Version, rec.pending(mv.Version)); err != nil || rec.Active.Version == mv.Version || rec.Hold != nil {
		// The operator activated it or rolled back from it meanwhile.
		os.RemoveAll(staging)
		return false, err
	}
	if err := s.place(staging, m); err != nil {
		return false, err
	}
	if err := s.activate(ctx, &rec, m, true); err != nil {
		return false, err
	}
	s.log.Info("model activated", "model", m.Name, "version", m.Version, "sha256", m.SHA256)
	s.prune(rec)
	return true, nil
}

// useInstalled handles the cases that need no download: mv already active,
// held back by an operator, or installed on disk with a matching tag. done
// reports that the sync is over. The caller holds op.
func (s *Syncer) useInstalled(ctx context.Context, mv mlflow.ModelVersion) (done, changed bool, err error) {
	rec, _, err := s.load()
	if err != nil {
		return true, false, err
	}
	// Record the target first: a hold the registry has moved past is lifted here.
	if err := s.follow(&rec, mv.Version, rec.pending(mv.Version)); err != nil {
		return true, false, err
	}
	if rec.Active.Version == mv.Version || rec.Hold != nil {
		return true, false, nil
	}
	m, ok := s.installed(mv.Version)
	if !ok || !s.tagsMatch(m, mv) {
		return false, false, nil
	}
	if err := s.activate(ctx, &rec, m, true); err != nil {
		return true, false, err
	}
	s.log.Info("model activated from disk", "model", m.Name, "version", m.Version, "sha256", m.SHA256)
	s.prune(rec)
	return true, true, nil
}

// noteFailure records why the target could not be made active.
func (s *Syncer) noteFailure(target string, err error) {
	s.op.Lock()
	defer s.op.Unlock()
	rec, _, lerr := s.load()
	if lerr != nil {
		return // the failure itself is the state's, already reported
	}
	if ferr := s.follow(&rec, target, divergence(err)); ferr != nil {
		s.log.Warn("record model sync divergence", "model", s.cfg.ModelName, "err", ferr)
	}
}

// tagsMatch re-checks an already installed copy against edged.sha256, so a
// re-tagged version is downloaded again rather than trusted.
func (s *Syncer) tagsMatch(m Installed, mv mlflow.ModelVersion) bool {
	want := strings.ToLower(strings.TrimSpace(mv.Tags[TagSHA256]))
	return want == m.SHA256 || (want == "" && s.cfg.AllowMissingChecksum)
}

// stage downloads mv into a new staging directory, checks sizes and
// checksums, runs the Verifier and writes the install record. The staging
// directory is removed on any failure. The caller holds syncMu.
func (s *Syncer) stage(ctx context.Context, mv mlflow.ModelVersion) (staging string, m Installed, err error) {
	if err := os.MkdirAll(s.nameDir(), 0o755); err != nil {
		return "", m, fmt.Errorf("install: %w", err)
	}
	s.cleanStaging()
	// Staging lives beside the final directory so the rename is atomic.
	staging, err = os.MkdirTemp(s.modelsDir(), ".staging-")
	if err != nil {
		return "", m, fmt.Errorf("install: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(staging)
		}
	}()

	if strings.TrimSpace(mv.Tags[TagSHA256]) == "" && !s.cfg.AllowMissingChecksum {
		return staging, m, fmt.Errorf("%w: version %s carries no %s tag (the SHA-256 of its ONNX file); tag it in the registry, or set mlflow.require_checksum: false",
			ErrChecksum, mv.Version, TagSHA256)
	}
	limit, err := s.downloadLimit()
	if err != nil {
		return staging, m, fmt.Errorf("install: %w", err)
	}
	uri, err := s.client.DownloadURI(ctx, mv.Name, mv.Version)
	if err != nil {
		return staging, m, err
	}
	files, err := s.client.DownloadDir(ctx, uri, staging, limit)
	if err != nil {
		return staging, m, err
	}
	entry, err := EntryFile(staging)
	if err != nil {
		return staging, m, err
	}
	sum, err := fileSHA256(filepath.Join(staging, filepath.FromSlash(entry)))
	if err != nil {
		return staging, m, fmt.Errorf("install: hash %s: %w", entry, err)
	}
	if want := strings.ToLower(strings.TrimSpace(mv.Tags[TagSHA256])); want != "" && want != sum {
		return staging, m, fmt.Errorf("%w: %s of version %s is %s, tag %s says %s", ErrChecksum, entry, mv.Version, sum, TagSHA256, want)
	}
	for _, f := range files {
		want := strings.ToLower(strings.TrimSpace(mv.Tags[tagFileSHA256Prefix+f.Path]))
		if want == "" {
			continue
		}
		got, err := fileSHA256(filepath.Join(staging, filepath.FromSlash(f.Path)))
		if err != nil {
			return staging, m, fmt.Errorf("install: hash %s: %w", f.Path, err)
		}
		if got != want {
			return staging, m, fmt.Errorf("%w: %s of version %s is %s, tag says %s", ErrChecksum, f.Path, mv.Version, got, want)
		}
	}
	vi, err := s.verify.Verify(ctx, staging, mv)
	if err != nil {
		return staging, m, fmt.Errorf("%w: version %s: %w", ErrVerify, mv.Version, err)
	}
	if vi.EntryFile != "" && vi.EntryFile != entry {
		entry = filepath.ToSlash(filepath.Clean(vi.EntryFile))
		if sum, err = fileSHA256(filepath.Join(staging, filepath.FromSlash(entry))); err != nil {
			return staging, m, fmt.Errorf("%w: verifier's entry file: %w", ErrBadModelDir, err)
		}
	}
	final := filepath.Join(s.nameDir(), mv.Version)
	m = Installed{Name: mv.Name, Version: mv.Version, Dir: final, EntryFile: entry, SHA256: sum, Since: time.Now().UTC()}
	meta, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(staging, metaFile), meta, 0o644); err != nil {
		return staging, m, fmt.Errorf("install: %w", err)
	}
	return staging, m, nil
}

// downloadLimit is MaxDownloadBytes, or a quarter of the space free on the
// state directory's filesystem when it is 0; never more than the free space.
func (s *Syncer) downloadLimit() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.modelsDir(), &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", s.modelsDir(), err)
	}
	free := int64(min(st.Bavail, uint64(math.MaxInt64)/uint64(max(st.Bsize, 1)))) * int64(st.Bsize)
	if s.cfg.MaxDownloadBytes > 0 {
		return max(1, min(s.cfg.MaxDownloadBytes, free)), nil
	}
	return max(1, free/4), nil
}

// place renames a staged version into <StateDir>/models/<name>/<version>.
// An old copy (tag mismatch, or left by a crash) is replaced; it is never the
// active one, which the caller has ruled out under op.
func (s *Syncer) place(staging string, m Installed) error {
	if err := os.RemoveAll(m.Dir); err != nil {
		os.RemoveAll(staging)
		return fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(staging, m.Dir); err != nil {
		os.RemoveAll(staging)
		return fmt.Errorf("install: %w", err)
	}
	syncDir(s.nameDir())
	return nil
}

// syncDir makes a rename durable; errors are ignored because some
// filesystems refuse fsync on directories and the install is already visible.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// cleanStaging removes staging directories left by a crash.
func (s *Syncer) cleanStaging() {
	ents, _ := os.ReadDir(s.modelsDir())
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), ".staging-") {
			os.RemoveAll(filepath.Join(s.modelsDir(), e.Name()))
		}
	}
}

// activate swaps m in and records it; rec is updated in place. push puts the
// version left on the served-history stack (see record.moveTo).
func (s *Syncer) activate(ctx context.Context, rec *record, m Installed, push bool) error {
	if err := s.act.Activate(ctx, m); err != nil {
		return fmt.Errorf("%w: version %s: %w", ErrActivate, m.Version, err)
	}
	before := *rec
	rec.moveTo(m, push)
	// A failed save leaves the new model serving, but a restart would come
	// back on the old one.
	return s.settle(before, rec, before.pending(before.Target), true)
}

// installed reads the install record of one version from disk.
func (s *Syncer) installed(version string) (Installed, bool) {
	if _, err := strconv.ParseUint(version, 10, 63); err != nil {
		return Installed{}, false
	}
	dir := filepath.Join(s.nameDir(), version)
	b, err := safefile.Read(filepath.Join(dir, metaFile), safefile.MaxSmall)
	if err != nil {
		return Installed{}, false
	}
	var m Installed
	if json.Unmarshal(b, &m) != nil || m.Version != version || m.EntryFile == "" {
		return Installed{}, false
	}
	m.Dir = dir // the state dir may have moved since install
	if fi, err := os.Stat(m.EntryPath()); err != nil || !fi.Mode().IsRegular() {
		return Installed{}, false
	}
	return m, true
}

// List returns the versions on disk, oldest version number first.
func (s *Syncer) List() ([]Installed, error) {
	ents, err := os.ReadDir(s.nameDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	var out []Installed
	for _, e := range ents {
		if m, ok := s.installed(e.Name()); ok && e.IsDir() {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, k int) bool { return versionLess(out[i].Version, out[k].Version) })
	return out, nil
}

func versionLess(a, b string) bool {
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	return x < y
}

// Active returns the version recorded as active.
func (s *Syncer) Active() (Installed, bool, error) {
	rec, ok, err := s.load()
	return rec.Active, ok, err
}

// prune removes installed versions beyond Keep. The active version and the
// rollback target always stay; the other places go to the served-history
// stack (newest first, so a second rollback finds its version), then to the
// newest version numbers.
func (s *Syncer) prune(rec record) {
	list, err := s.List()
	if err != nil {
		s.log.Warn("prune models", "err", err)
		return
	}
	on := make(map[string]bool, len(list))
	for _, m := range list {
		on[m.Version] = true
	}
	keep := map[string]bool{rec.Active.Version: true}
	if v := rec.rollbackTarget(func(v string) bool { return on[v] }); v != "" {
		keep[v] = true
	}
	var order []string
	for i := len(rec.History) - 1; i >= 0; i-- {
		order = append(order, rec.History[i])
	}
	for i := len(list) - 1; i >= 0; i-- {
		order = append(order, list[i].Version)
	}
	for _, v := range order {
		if len(keep) >= s.cfg.Keep {
			break
		}
		if on[v] {
			keep[v] = true
		}
	}
	for _, m := range list {
		if keep[m.Version] {
			continue
		}
		if err := os.RemoveAll(m.Dir); err != nil {
			s.log.Warn("prune model", "version", m.Version, "err", err)
			continue
		}
		s.log.Info("pruned old model", "model", m.Name, "version", m.Version)
	}
}

// Restore activates the recorded active version from disk, without the
// network: the startup path. If that copy is missing or damaged (its SHA-256
// no longer matches), the versions of the served-history stack are tried
// newest first, then the other installed versions, newest first. It returns
// false when nothing is installed.
func (s *Syncer) Restore(ctx context.Context) (Installed, bool, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.op.Lock()
	defer s.op.Unlock()
	s.cleanStaging()
	rec, ok, err := s.load()
	if err != nil {
		return Installed{}, false, err
	}
	s.publish(rec)
	list, err := s.List()
	if err != nil {
		return Installed{}, false, err
	}
	var order []string
	if ok {
		order = append(order, rec.Active.Version)
	}
	for i := len(rec.History) - 1; i >= 0; i-- {
		order = append(order, rec.History[i])
	}
	for i := len(list) - 1; i >= 0; i-- {
		order = append(order, list[i].Version)
	}
	recorded := rec.Active.Version
	tried := map[string]bool{}
	var errs []error
	for _, v := range order {
		if tried[v] {
			continue
		}
		tried[v] = true
		m, found := s.installed(v)
		if !found {
			continue
		}
		sum, err := fileSHA256(m.EntryPath())
		if err != nil || sum != m.SHA256 {
			errs = append(errs, fmt.Errorf("version %s: %w: entry file changed on disk", m.Version, ErrChecksum))
			continue
		}
		// A damaged recorded version is not pushed: nobody should roll back to it.
		if err := s.activate(ctx, &rec, m, false); err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrState) {
				break
			}
			continue
		}
		if m.Version != recorded {
			s.log.Warn("recorded model unusable; restored a fallback", "model", m.Name, "recorded", recorded, "version", m.Version)
		}
		return m, true, nil
	}
	if len(errs) > 0 {
		return Installed{}, false, fmt.Errorf("restore: %w", errors.Join(errs...))
	}
	return Installed{}, false, nil
}

// Activate makes an installed version active (operator command). Sync then
// leaves it active while the followed alias or stage names the version that
// was active before (reason DivergedPinned), and follows the registry again
// once it names any other.
func (s *Syncer) Activate(ctx context.Context, version string) error {
	s.op.Lock()
	defer s.op.Unlock()
	m, ok := s.installed(version)
	if !ok {
		return fmt.Errorf("%w: %s %s", ErrNotInstalled, s.cfg.ModelName, version)
	}
	rec, _, err := s.load()
	if err != nil {
		return err
	}
	return s.switchTo(ctx, &rec, m, DivergedPinned, true)
}

// Rollback activates the last version that served before the active one and
// is still on disk, popping it from the served-history stack, so that a
// second rollback goes further back. Sync then holds (reason
// DivergedRolledBack) as Activate does. ErrNoPrevious means the stack holds
// no installed version.
func (s *Syncer) Rollback(ctx context.Context) error {
	s.op.Lock()
	defer s.op.Unlock()
	rec, _, err := s.load()
	if err != nil {
		return err
	}
	for len(rec.History) > 0 {
		v := rec.History[len(rec.History)-1]
		rec.History = rec.History[:len(rec.History)-1]
		if v == rec.Active.Version {
			continue
		}
		m, ok := s.installed(v)
		if !ok {
			s.log.Warn("rollback passes over a version no longer on disk", "model", s.cfg.ModelName, "version", v)
			continue
		}
		return s.switchTo(ctx, &rec, m, DivergedRolledBack, false)
	}
	return ErrNoPrevious
}

// switchTo is the operator path: activate m and hold sync on the registry's
// current target. The caller holds op.
func (s *Syncer) switchTo(ctx context.Context, rec *record, m Installed, reason string, push bool) error {
	left := rec.Active.Version
	if left == m.Version {
		return s.act.Activate(ctx, m)
	}
	target := rec.Target
	if target == "" {
		// The registry has not been asked yet: the version left stands for it.
		target = left
	}
	rec.Hold = &hold{Target: target, Reason: reason}
	if err := s.activate(ctx, rec, m, push); err != nil {
		return err
	}
	s.log.Info("model switched by operator", "model", m.Name, "from", left, "to", m.Version, "reason", reason)
	return nil
}

// Stats returns a copy of the counters.
func (s *Syncer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Failures = make(map[string]uint64, len(s.stats.Failures))
	for k, v := range s.stats.Failures {
		st.Failures[k] = v
	}
	return st
}

// Reason classifies a SyncOnce error into a Reason* constant.
func Reason(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrChecksum):
		return ReasonChecksum
	case errors.Is(err, ErrVerify):
		return ReasonVerify
	case errors.Is(err, ErrActivate):
		return ReasonActivate
	case errors.Is(err, ErrState):
		return ReasonState
	case errors.Is(err, ErrBadModelDir), errors.Is(err, mlflow.ErrUnsafePath), errors.Is(err, mlflow.ErrEmptyArtifacts), errors.Is(err, mlflow.ErrUnsupportedURI):
		return ReasonModelDir
	case errors.Is(err, mlflow.ErrUnauthenticated), errors.Is(err, mlflow.ErrPermissionDenied):
		return ReasonAuth
	case errors.Is(err, mlflow.ErrNotFound):
		return ReasonNotFound
	case errors.Is(err, mlflow.ErrSizeMismatch), errors.Is(err, mlflow.ErrTooLarge):
		return ReasonSize
	case errors.Is(err, mlflow.ErrTruncated):
		return ReasonDownload
	case errors.Is(err, mlflow.ErrTimeout):
		return ReasonTimeout
	case errors.Is(err, mlflow.ErrServer), errors.Is(err, mlflow.ErrBadResponse), errors.Is(err, mlflow.ErrRateLimited), errors.Is(err, mlflow.ErrInvalidParameter):
		return ReasonServer
	case isTLS(err):
		return ReasonTLS
	case errors.As(err, &ne):
		if ne.Timeout() {
			return ReasonTimeout
		}
		return ReasonNetwork
	case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrExist), errors.Is(err, fs.ErrNotExist):
		return ReasonInstall
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return ReasonInstall
	}
	return ReasonOther
}

func isTLS(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var ae tls.AlertError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &rh) || errors.As(err, &ae)
}
