package modelsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
)

// Why the followed target is not the active version (Stats.Divergence, and the
// reason label of edged_model_sync_diverged). The empty string means they agree,
// or the target is not known yet.
const (
	// DivergedRolledBack: the operator rolled back from the target; sync holds
	// until the alias or stage names another version.
	DivergedRolledBack = "rolled_back"
	// DivergedPinned: the operator activated another version; held likewise.
	DivergedPinned = "pinned"
	// DivergedFailedVerification: the target was downloaded and refused
	// (checksum, sizes, model directory, Verifier or Activator). Retried each poll.
	DivergedFailedVerification = "failed_verification"
	// DivergedFailedDownload: the target could not be fetched (network, server,
	// auth, truncated download). Retried each poll.
	DivergedFailedDownload = "failed_download"
	// DivergedFailedInstall: the local disk or state refused the install.
	DivergedFailedInstall = "failed_install"
	// DivergedNotReady: the target's registry status is not READY yet.
	DivergedNotReady = "not_ready"
	// DivergedPending: the target is new and not installed yet (downloading,
	// or a restart restored another version); the next poll settles it.
	DivergedPending = "pending"
)

// DivergenceReasons lists every Diverged* value, for metrics that export each at 0.
func DivergenceReasons() []string {
	return []string{DivergedRolledBack, DivergedPinned, DivergedFailedVerification,
		DivergedFailedDownload, DivergedFailedInstall, DivergedNotReady, DivergedPending}
}

// divergence maps a failed attempt on the target to a Diverged* reason.
func divergence(err error) string {
	switch Reason(err) {
	case ReasonChecksum, ReasonSize, ReasonModelDir, ReasonVerify, ReasonActivate:
		return DivergedFailedVerification
	case ReasonInstall, ReasonState:
		return DivergedFailedInstall
	}
	return DivergedFailedDownload
}

// maxHistory bounds the served-history stack in the state record.
const maxHistory = 32

// record is what State holds, as JSON under "modelsync/<model name>".
type record struct {
	Active Installed `json:"active"`
	// History is the served-history stack: the versions that were active
	// before Active, oldest first, each once. Rollback pops it, so a second
	// rollback goes further back; any other switch pushes the version left.
	History []string `json:"history,omitempty"`
	// Hold keeps sync from replacing Active while the followed alias or stage
	// still names Hold.Target (set by Rollback and Activate).
	Hold *hold `json:"hold,omitempty"`
	// Target is the version the alias or stage named at the last poll that
	// resolved it; TargetReason says why it is not Active (a Diverged* value).
	Target       string `json:"target,omitempty"`
	TargetReason string `json:"target_reason,omitempty"`
	// Skip is the format before holds (versions sync never reinstalled); it is
	// read once and turned into a Hold.
	Skip []string `json:"skip,omitempty"`
}

// hold is an operator's decision that outranks the registry's current choice.
type hold struct {
	// Target is the version the registry named when the operator acted (the
	// version left when the registry had not been asked yet).
	Target string `json:"target"`
	// Reason is DivergedRolledBack or DivergedPinned.
	Reason string `json:"reason"`
}

// rollbackTarget is the newest version on the served-history stack that is
// not active, or "".
func (r *record) rollbackTarget(installed func(string) bool) string {
	for i := len(r.History) - 1; i >= 0; i-- {
		if v := r.History[i]; v != r.Active.Version && installed(v) {
			return v
		}
	}
	return ""
}

// moveTo records m as active. push puts the version left on the served-history
// stack (every switch but a rollback, which has popped it instead).
func (r *record) moveTo(m Installed, push bool) {
	left := r.Active.Version
	r.History = slices.DeleteFunc(r.History, func(v string) bool { return v == m.Version || (push && v == left) })
	if push && left != "" && left != m.Version {
		r.History = append(r.History, left)
	}
	if len(r.History) > maxHistory {
		r.History = r.History[len(r.History)-maxHistory:]
	}
	r.Active = m
}

// reason is why the target is not active, given this poll's trouble with it
// ("" for none yet).
func (r *record) reason(failure string) string {
	switch {
	case r.Target == "" || r.Target == r.Active.Version:
		return ""
	case r.Hold != nil && r.Hold.Target == r.Target:
		return r.Hold.Reason
	case failure != "":
		return failure
	}
	return DivergedPending
}

// pending is the failure already recorded for target, kept while a poll
// retries it so that the reason does not flap, or "" for a new target.
func (r *record) pending(target string) string {
	if r.Target == target && r.Hold == nil {
		return r.TargetReason
	}
	return ""
}

func (s *Syncer) load() (record, bool, error) {
	b, err := s.state.GetState(s.stateKey())
	if err != nil {
		if s.cfg.StateNotFound != nil && errors.Is(err, s.cfg.StateNotFound) {
			return record{}, false, nil
		}
		return record{}, false, fmt.Errorf("%w: read %s: %w", ErrState, s.stateKey(), err)
	}
	if len(b) == 0 {
		return record{}, false, nil
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, false, fmt.Errorf("%w: decode %s: %w", ErrState, s.stateKey(), err)
	}
	if len(r.Skip) > 0 {
		if r.Hold == nil {
			// The version most recently moved away from stands for the target.
			r.Hold = &hold{Target: r.Skip[len(r.Skip)-1], Reason: DivergedPinned}
		}
		r.Skip = nil
	}
	return r, r.Active.Version != "", nil
}

func (s *Syncer) save(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	if err := s.state.PutState(s.stateKey(), b); err != nil {
		return fmt.Errorf("%w: write %s: %w", ErrState, s.stateKey(), err)
	}
	return nil
}

// follow records target as the registry's current choice and failure as
// this poll's trouble with it, then settles the record. The caller holds op.
func (s *Syncer) follow(rec *record, target, failure string) error {
	before := *rec
	rec.Target = target
	return s.settle(before, rec, failure, false)
}

// settle lifts a hold the registry has moved past, recomputes why the target
// is not active, publishes that to Stats, and saves the record when it
// changed (always when dirty). It logs when the active version starts or stops
// differing from the target. The caller holds op.
func (s *Syncer) settle(before record, rec *record, failure string, dirty bool) error {
	if h := rec.Hold; h != nil && rec.Target != "" && (rec.Target == rec.Active.Version || rec.Target != h.Target) {
		if rec.Target != rec.Active.Version {
			s.log.Info("registry names another version; the operator's hold is lifted",
				"model", s.cfg.ModelName, "held", h.Target, "target", rec.Target, "active", rec.Active.Version)
		}
		rec.Hold = nil
	}
	rec.TargetReason = rec.reason(failure)
	s.publish(*rec)
	if !dirty && rec.Target == before.Target && rec.TargetReason == before.TargetReason && rec.Hold == before.Hold {
		return nil
	}
	s.logDivergence(before, *rec)
	return s.save(*rec)
}

// logDivergence writes one line when the target/active disagreement starts,
// changes reason or ends: a Warn for an operator's hold, which lasts until the
// registry moves; an Info for a failed attempt, whose Warn with the cause
// SyncOnce writes on every poll. A target merely being fetched (pending) is the
// normal course of an update and is not reported.
func (s *Syncer) logDivergence(before, after record) {
	switch {
	case after.TargetReason != "" && after.TargetReason != DivergedPending &&
		(after.TargetReason != before.TargetReason || after.Target != before.Target):
		level := slog.LevelInfo
		if after.TargetReason == DivergedRolledBack || after.TargetReason == DivergedPinned {
			level = slog.LevelWarn
		}
		s.log.Log(context.Background(), level, "active model differs from the registry's target", "model", s.cfg.ModelName,
			"target", after.Target, "active", after.Active.Version, "reason", after.TargetReason)
	case after.TargetReason == "" && before.TargetReason != "" && before.TargetReason != DivergedPending:
		s.log.Info("active model is the registry's target again", "model", s.cfg.ModelName,
			"target", after.Target, "active", after.Active.Version)
	}
}

// publish copies the record's view into Stats.
func (s *Syncer) publish(rec record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.ActiveVersion = rec.Active.Version
	s.stats.TargetVersion = rec.Target
	s.stats.Divergence = rec.TargetReason
}

// Status is the recorded view of the followed model, as the state holds it.
type Status struct {
	// Follows is what is followed, as an MLflow model URI:
	// models:/<name>@<alias>, models:/<name>/<stage>, or models:/<name>/latest.
	Follows string
	// Active is the active version's install; Active.Version is "" when none.
	Active Installed
	// Target is the version the registry named at the last poll that resolved
	// it, and Divergence why it is not active (a Diverged* value, or "").
	Target, Divergence string
	// RollbackTarget is the version Rollback would activate, "" when none.
	RollbackTarget string
}

// Status reads the state record and the disk.
func (s *Syncer) Status() (Status, error) {
	s.op.Lock()
	defer s.op.Unlock()
	rec, _, err := s.load()
	if err != nil {
		return Status{}, err
	}
	st := Status{Follows: "models:/" + s.cfg.ModelName + "/latest", Active: rec.Active, Target: rec.Target, Divergence: rec.TargetReason}
	switch {
	case s.cfg.Alias != "":
		st.Follows = "models:/" + s.cfg.ModelName + "@" + s.cfg.Alias
	case s.cfg.Stage != "":
		st.Follows = "models:/" + s.cfg.ModelName + "/" + s.cfg.Stage
	}
	st.RollbackTarget = rec.rollbackTarget(func(v string) bool { _, ok := s.installed(v); return ok })
	return st, nil
}
