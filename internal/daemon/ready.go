package daemon

import (
	"strings"
	"sync"
)

// readiness is what /readyz answers: a few named conditions (model, source, pipeline…),
// each saying truthfully whether its part of the daemon serves, and if not, why. A part of
// the daemon that can stop serving (the store refusing writes, say) adds its own.
type readiness struct {
	mu    sync.Mutex
	conds []condition
}

type condition struct {
	name  string
	check func() error // nil when the condition holds
}

// add registers a condition; conditions are checked and reported in the order added.
func (r *readiness) add(name string, check func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conds = append(r.conds, condition{name, check})
}

// check is nil when every condition holds, else a *NotReadyError naming each that does not.
func (r *readiness) check() error {
	r.mu.Lock()
	conds := r.conds
	r.mu.Unlock()
	var e NotReadyError
	for _, c := range conds {
		if err := c.check(); err != nil {
			e.Failed = append(e.Failed, ConditionError{Condition: c.name, Err: err})
		}
	}
	if len(e.Failed) == 0 {
		return nil
	}
	return &e
}

// NotReadyError is why the daemon is not ready: every condition that does not hold.
type NotReadyError struct {
	Failed []ConditionError
}

// ConditionError is one readiness condition that does not hold, and why.
type ConditionError struct {
	Condition string // "model", "source", "pipeline"…
	Err       error
}

func (e *NotReadyError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		parts[i] = f.Condition + ": " + f.Err.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap lets errors.Is see each condition's error (capture.ErrStalled, say).
func (e *NotReadyError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}
