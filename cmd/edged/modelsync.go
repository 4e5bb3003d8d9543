package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/infer/modelsync"
	"github.com/heimdall/edged/internal/daemon"
	"github.com/heimdall/edged/store"
)

// modelSync runs `edged model list|sync|activate|rollback`. With the daemon stopped it works
// on the state directory itself; while the daemon runs (it holds the bbolt lock), list, sync
// and rollback go through its local API instead, so the running model changes at once.
func modelSync(cmd string, args []string) error {
	fs := flag.NewFlagSet("model "+cmd, flag.ContinueOnError)
	path := fs.String("config", os.Getenv("EDGED_CONFIG"), "YAML config `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if cmd == "activate" && fs.NArg() != 1 {
		return errors.New("usage: edged model activate [-config FILE] VERSION")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	dbPath := cfg.Store.Path
	if dbPath == "" {
		dbPath = filepath.Join(cfg.ResolvedStateDir(), "edged.db")
	}
	db, err := store.Open(dbPath, store.Options{}, log)
	if errors.Is(err, store.ErrLocked) {
		return viaAPI(ctx, cfg, cmd)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.MLflow.TrackingURI == "" {
		if cmd == "list" {
			fmt.Println("model sync is off (mlflow.tracking_uri is not set); edged serves", orEmbedded(cfg.Model.Path))
			return nil
		}
		return configError{errors.New("mlflow.tracking_uri: not set; model sync is off")}
	}
	if err := infer.Init(cfg.OnnxRuntimeLib); err != nil {
		return err
	}
	contract, err := cfg.Model.LoadContract()
	if err != nil {
		return configError{err}
	}
	load := func(src infer.Source) (*infer.Model, error) {
		return infer.Load(src, infer.Options{Contract: contract, Override: cfg.Model.OverrideContract})
	}
	// Offline, "activate" means: verify it loads, and record it for the daemon's next start.
	s, err := daemon.NewSyncer(cfg, daemon.Verifier{Load: load}, checkOnly{load}, db, log)
	if err != nil {
		return configError{err}
	}
	switch cmd {
	case "list":
		return printInstalled(s)
	case "sync":
		changed, err := s.SyncOnce(ctx)
		if err != nil {
			return err
		}
		active, _, _ := s.Active()
		fmt.Printf("active: %s version %s (changed: %v)\n", active.Name, active.Version, changed)
		return nil
	case "activate":
		return s.Activate(ctx, fs.Arg(0))
	case "rollback":
		return s.Rollback(ctx)
	}
	return fmt.Errorf("unknown model command %q", cmd)
}

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

func printInstalled(s *modelsync.Syncer) error {
	list, err := s.List()
	if err != nil {
		return err
	}
	active, _, _ := s.Active()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ACTIVE\tNAME\tVERSION\tSHA256\tINSTALLED")
	for _, m := range list {
		mark := ""
		if m.Version == active.Version && m.Name == active.Name {
			mark = "*"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%.12s\t%s\n", mark, m.Name, m.Version, m.SHA256, m.Since.Format(time.RFC3339))
	}
	return w.Flush()
}

// viaAPI asks the running daemon.
func viaAPI(ctx context.Context, cfg configs.Config, cmd string) error {
	base := "http://" + cfg.HTTP.Listen
	method, route := http.MethodGet, "/api/v1/models"
	switch cmd {
	case "sync":
		method, route = http.MethodPost, "/api/v1/model/reload"
	case "rollback":
		method, route = http.MethodPost, "/api/v1/model/rollback"
	case "activate":
		return errors.New("edged is running (it holds the store): stop it to activate a version, or use rollback")
	}
	req, err := http.NewRequestWithContext(ctx, method, base+route, nil)
	if err != nil {
		return err
	}
	if cfg.HTTP.TokenFile != "" {
		tok, err := os.ReadFile(cfg.HTTP.TokenFile)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("edged is running but its API at %s does not answer: %w", base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, route, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Println(strings.TrimSpace(string(body)))
	return nil
}

func orEmbedded(path string) string {
	if path == "" {
		return "the embedded reference model"
	}
	return path
}
