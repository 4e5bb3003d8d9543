package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/heimdall/edged/api"
	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/infer/modelsync"
	"github.com/heimdall/edged/internal/daemon"
	"github.com/heimdall/edged/store"
)

// defaultAPITimeout bounds one call to the daemon's API. A sync through it is bounded by the
// daemon's own http.request_timeout_seconds (30 s by default) first.
const defaultAPITimeout = time.Minute

// modelsView is GET /api/v1/models, which `edged model list` prints.
type modelsView struct {
	Models   []api.ModelInfo   `json:"models"`
	Registry *api.RegistryInfo `json:"registry,omitempty"`
}

// changeView is the answer of POST /api/v1/model/{reload,rollback,activate}.
type changeView struct {
	Status   string        `json:"status"`
	Previous api.ModelInfo `json:"previous"`
	Active   api.ModelInfo `json:"active"`
}

// modelSync runs `edged model list|sync|activate|rollback`. While the daemon runs (it holds
// the bbolt lock) every command goes through its local API, with the bearer token of
// http.token_file, so the running model changes at once; with the daemon stopped they work
// on the state directory, creating it as the daemon would on a host where it never ran.
// Both ways print the same table (or, with -json, the API's JSON).
func modelSync(cmd string, args []string) error {
	synopsis := "[-config FILE] [-json] [-timeout D]"
	if cmd == "activate" {
		synopsis += " VERSION"
	}
	fs := newFlags("model "+cmd, synopsis)
	path := fs.String("config", os.Getenv("EDGED_CONFIG"), "YAML config `FILE`")
	asJSON := fs.Bool("json", false, "print JSON, as the local API answers, instead of a table")
	timeout := fs.Duration("timeout", defaultAPITimeout, "give up on the running daemon's API after `DURATION`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case cmd == "activate" && fs.NArg() != 1:
		return errors.New("usage: edged model activate [-config FILE] [-json] [-timeout D] VERSION")
	case cmd != "activate" && fs.NArg() != 0:
		return fmt.Errorf("usage: edged model %s [-config FILE] [-json] [-timeout D]", cmd)
	case *timeout <= 0:
		return fmt.Errorf("-timeout %v: must be positive", *timeout)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	_, dbPath, err := daemon.StateDir(cfg)
	if err != nil {
		return err
	}
	db, err := store.Open(dbPath, store.Options{}, log)
	if errors.Is(err, store.ErrLocked) {
		c, err := newAPIClient(cfg, *timeout)
		if err != nil {
			return err
		}
		return runModelCommand(ctx, c, cmd, fs.Arg(0), *asJSON)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := newStoppedModels(cfg, db, log)
	if err != nil {
		return err
	}
	return runModelCommand(ctx, c, cmd, fs.Arg(0), *asJSON)
}

// modelCommands is what `edged model` does, through the daemon or on the state directory.
type modelCommands interface {
	list(ctx context.Context) (modelsView, error)
	// change runs reload (sync), rollback or activate.
	change(ctx context.Context, cmd, version string) (changeView, error)
}

func runModelCommand(ctx context.Context, c modelCommands, cmd, version string, asJSON bool) error {
	var out any
	if cmd == "list" {
		v, err := c.list(ctx)
		if err != nil {
			return err
		}
		if !asJSON {
			return printModels(os.Stdout, v)
		}
		out = v
	} else {
		ch, err := c.change(ctx, cmd, version)
		if err != nil {
			return err
		}
		if !asJSON {
			fmt.Printf("%s: active %s version %s (before: %s version %s)\n", ch.Status, ch.Active.Name, ch.Active.Version, ch.Previous.Name, ch.Previous.Version)
			return nil
		}
		out = ch
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// printModels writes the table `edged model list` shows.
func printModels(w io.Writer, v modelsView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTIVE\tNAME\tVERSION\tSOURCE\tSHA256\tINSTALLED")
	for _, m := range v.Models {
		mark, installed := "", "-"
		if m.Active {
			mark = "*"
		}
		if m.Source == "mlflow" && !m.Since.IsZero() {
			installed = m.Since.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.12s\t%s\n", mark, m.Name, m.Version, m.Source, m.SHA256, installed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	r := v.Registry
	switch {
	case r == nil:
		fmt.Fprintln(w, "model sync is off (mlflow.tracking_uri is not set)")
		return nil
	case r.Target == "":
		fmt.Fprintf(w, "registry: %s not reached yet\n", r.Follows)
	case r.Divergence == "":
		fmt.Fprintf(w, "registry: %s names version %s (active)\n", r.Follows, r.Target)
	default:
		fmt.Fprintf(w, "registry: %s names version %s, not active: %s\n", r.Follows, r.Target, r.Divergence)
	}
	rb := r.RollbackTarget
	if rb == "" {
		rb = "none"
	}
	_, err := fmt.Fprintf(w, "rollback target: %s\n", rb)
	return err
}

// apiClient asks the running daemon.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(cfg configs.Config, timeout time.Duration) (*apiClient, error) {
	c := &apiClient{base: "http://" + dialAddr(cfg.HTTP.Listen), http: &http.Client{Timeout: timeout}}
	// Read as the daemon reads it (a systemd credential resolves through
	// $CREDENTIALS_DIRECTORY), which configs.Load already checked.
	tok, err := cfg.HTTP.BearerToken()
	if err != nil {
		return nil, configError{fmt.Errorf("http.token_file: %w", err)}
	}
	c.token = tok
	return c, nil
}

// dialAddr turns a listen address into one to connect to: a wildcard host is this host.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (c *apiClient) list(ctx context.Context) (modelsView, error) {
	var v modelsView
	return v, c.do(ctx, http.MethodGet, "/api/v1/models", &v)
}

func (c *apiClient) change(ctx context.Context, cmd, version string) (changeView, error) {
	route := map[string]string{"sync": "/api/v1/model/reload", "rollback": "/api/v1/model/rollback",
		"activate": "/api/v1/model/activate?version=" + url.QueryEscape(version)}[cmd]
	var v changeView
	return v, c.do(ctx, http.MethodPost, route, &v)
}

// maxAPIAnswerBytes bounds what is read from the daemon's answer.
const maxAPIAnswerBytes = 1 << 20

func (c *apiClient) do(ctx context.Context, method, route string, into any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+route, nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("edged is running (it holds the store) but its API at %s does not answer: %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswerBytes+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, route, err)
	}
	if len(body) > maxAPIAnswerBytes {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, route, maxAPIAnswerBytes)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Message string }
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s %s: %s: %s", method, route, resp.Status, e.Message)
		}
		return fmt.Errorf("%s %s: %s: %s", method, route, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("%s %s: answer is not the expected JSON: %w", method, route, err)
	}
	return nil
}

// stoppedModels works on the state directory while the daemon is stopped.
type stoppedModels struct {
	cfg configs.Config
	s   *modelsync.Syncer // nil when model sync is off
}

func newStoppedModels(cfg configs.Config, db *store.DB, log *slog.Logger) (*stoppedModels, error) {
	if err := infer.Init(cfg.OnnxRuntimeLib); err != nil {
		return nil, err
	}
	c := &stoppedModels{cfg: cfg}
	if !cfg.MLflow.Enabled() {
		return c, nil
	}
	opts, err := cfg.Model.Options()
	if err != nil {
		return nil, configError{err}
	}
	load := func(src infer.Source) (*infer.Model, error) { return infer.Load(src, opts) }
	// Offline, "activate" means: verify it loads, and record it for the daemon's next start.
	if c.s, err = daemon.NewSyncer(cfg, daemon.Verifier{Load: load}, checkOnly{load}, db, log); err != nil {
		return nil, configError{err}
	}
	return c, nil
}

func (c *stoppedModels) list(ctx context.Context) (modelsView, error) {
	models, reg, err := daemon.StoppedModels(c.cfg, c.s)
	return modelsView{Models: models, Registry: reg}, err
}

func (c *stoppedModels) active() (api.ModelInfo, error) {
	v, err := c.list(context.Background())
	for _, m := range v.Models {
		if m.Active {
			return m, err
		}
	}
	return api.ModelInfo{}, err
}

func (c *stoppedModels) change(ctx context.Context, cmd, version string) (changeView, error) {
	if c.s == nil {
		return changeView{}, configError{errors.New("mlflow.tracking_uri: not set; model sync is off")}
	}
	prev, err := c.active()
	if err != nil {
		return changeView{}, err
	}
	var status string
	switch cmd {
	case "sync":
		status, err = "reloaded", ignoreChanged(c.s.SyncOnce(ctx))
	case "rollback":
		status, err = "rolled_back", c.s.Rollback(ctx)
	case "activate":
		status, err = "activated", c.s.Activate(ctx, version)
	default:
		return changeView{}, fmt.Errorf("unknown model command %q", cmd)
	}
	if err != nil {
		return changeView{}, err
	}
	now, err := c.active()
	return changeView{Status: status, Previous: prev, Active: now}, err
}

func ignoreChanged(_ bool, err error) error { return err }

// checkOnly activates nothing (no daemon is running) but refuses what would not load.
type checkOnly struct {
	load func(infer.Source) (*infer.Model, error)
}

func (c checkOnly) Activate(ctx context.Context, in modelsync.Installed) error {
	m, err := c.load(infer.Source{Path: in.EntryPath(), Name: in.Name, Version: in.Version})
	if err != nil {
		return err
	}
	return m.Close()
}
