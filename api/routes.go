package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/store"
)

// fixes answers GET /api/v1/fixes?since=RFC3339&limit=N with a FeatureCollection, oldest
// first.
func (s *Server) fixes(w http.ResponseWriter, r *http.Request) {
	since, limit := time.Time{}, DefaultFixesLimit
	for k, v := range r.URL.Query() {
		if len(v) != 1 {
			writeError(w, badParam(k, "given more than once"))
			return
		}
		switch k {
		case "since":
			t, err := time.Parse(time.RFC3339Nano, v[0])
			if err != nil {
				writeError(w, badParam(k, fmt.Sprintf("%q is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)", v[0])))
				return
			}
			since = t
		case "limit":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 1 || n > MaxFixesLimit {
				writeError(w, badParam(k, fmt.Sprintf("%q: want an integer from 1 to %d", v[0], MaxFixesLimit)))
				return
			}
			limit = n
		default:
			writeError(w, badParam(k, "unknown (fixes takes since and limit)"))
			return
		}
	}
	if s.deps.DB == nil {
		writeError(w, errf(http.StatusServiceUnavailable, codeUnavailable, "no store configured"))
		return
	}
	fixes, err := s.deps.DB.Fixes(since, limit)
	if err != nil {
		s.log.Warn("api: reading fixes", "err", err)
		writeError(w, errf(http.StatusServiceUnavailable, codeUnavailable, "reading fixes from the store failed"))
		return
	}
	body := store.FeatureCollection(fixes, func(f store.Fix) {
		s.log.Warn("api: stored fix is not valid JSON; skipped", "id", f.ID)
	})
	writeBody(w, http.StatusOK, body)
}

// modelResponse describes the active model.
type modelResponse struct {
	ModelInfo
	SampleRateHz  float64 `json:"sample_rate_hz"`
	WindowSamples int     `json:"window_samples"`
}

func (s *Server) activeInfo() (ModelInfo, *infer.Model) {
	m := s.deps.Engine.Active()
	if s.deps.Models != nil {
		return s.deps.Models.Active(), m
	}
	if m == nil {
		return ModelInfo{}, nil
	}
	return ModelInfo{Name: m.Name, Version: m.Version, SHA256: m.SHA256, Active: true, Source: "engine"}, m
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) {
	info, m := s.activeInfo()
	if m == nil {
		writeError(w, errf(http.StatusServiceUnavailable, codeUnavailable, "no model loaded"))
		return
	}
	writeJSON(w, http.StatusOK, modelResponse{ModelInfo: info,
		SampleRateHz: m.Contract.Preprocess.SampleRateHz, WindowSamples: m.Contract.Preprocess.WindowSamples})
}

// modelsResponse lists the installed models and, with model sync, the registry's target.
type modelsResponse struct {
	Models   []ModelInfo   `json:"models"`
	Registry *RegistryInfo `json:"registry,omitempty"`
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	if s.deps.Models == nil {
		info, m := s.activeInfo()
		list := []ModelInfo{}
		if m != nil {
			list = append(list, info)
		}
		writeJSON(w, http.StatusOK, modelsResponse{Models: list})
		return
	}
	list, err := s.deps.Models.List()
	if err != nil {
		s.log.Warn("api: listing models", "err", err)
		writeError(w, errf(http.StatusServiceUnavailable, codeUnavailable, "listing models failed: "+err.Error()))
		return
	}
	if list == nil {
		list = []ModelInfo{}
	}
	resp := modelsResponse{Models: list}
	if reg, ok := s.deps.Models.Registry(); ok {
		resp.Registry = &reg
	}
	writeJSON(w, http.StatusOK, resp)
}

// changeResponse reports a reload, rollback or activation.
type changeResponse struct {
	Status   string    `json:"status"`
	Previous ModelInfo `json:"previous"`
	Active   ModelInfo `json:"active"`
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	s.change(w, r, "reloaded", ModelManager.Reload)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	s.change(w, r, "rolled_back", ModelManager.Rollback)
}

// activate answers POST /api/v1/model/activate?version=V.
func (s *Server) activate(w http.ResponseWriter, r *http.Request) {
	version := ""
	for k, v := range r.URL.Query() {
		if k != "version" {
			writeError(w, badParam(k, "unknown (activate takes version)"))
			return
		}
		if len(v) != 1 {
			writeError(w, badParam(k, "given more than once"))
			return
		}
		version = v[0]
	}
	if version == "" {
		writeError(w, badParam("version", "missing: name the installed version to activate"))
		return
	}
	s.change(w, r, "activated", func(mm ModelManager, ctx context.Context) error { return mm.Activate(ctx, version) })
}

// change runs a reload, rollback or activation and reports the models before and after.
func (s *Server) change(w http.ResponseWriter, r *http.Request, status string, op func(ModelManager, context.Context) error) {
	mm := s.deps.Models
	if mm == nil {
		writeError(w, errf(http.StatusServiceUnavailable, codeUnavailable, "model management is not configured"))
		return
	}
	prev := mm.Active()
	if err := op(mm, r.Context()); err != nil {
		switch {
		case errors.Is(err, ErrNoRollback), errors.Is(err, ErrBusy):
			writeError(w, errf(http.StatusConflict, codeConflict, err.Error()))
		case errors.Is(err, ErrUnknownVersion):
			writeError(w, errf(http.StatusNotFound, codeNotFound, err.Error()))
		default:
			s.log.Warn("api: model change failed", "op", status, "err", err)
			what := map[string]string{"reloaded": "reload", "rolled_back": "rollback", "activated": "activation"}[status]
			writeError(w, errf(http.StatusServiceUnavailable, codeUnavailable, "model "+what+" failed: "+err.Error()))
		}
		return
	}
	s.log.Info("api: model changed", "op", status)
	writeJSON(w, http.StatusOK, changeResponse{Status: status, Previous: prev, Active: mm.Active()})
}
