package infer

import (
	"context"
	"errors"
	"hash/fnv"
	"math"
	"reflect"
	"sync/atomic"
)

// Engine routes windows to the active model, or splits them between a champion and a
// challenger, and swaps models atomically: a window runs wholly on the model that was active
// when it started, and a swapped-out model is closed only after its last window finished.
type Engine struct {
	cur atomic.Pointer[routing]
}

type routing struct {
	champion   *Model
	challenger *Model
	split      float64
	shadow     bool
}

// Job is one window to run.
type Job struct {
	// ID decides A/B routing, so the same window always goes to the same model.
	ID       string
	Features []float32
}

// Result is a job's answer. Err wraps ErrNonFinite for a window whose output was not finite.
type Result struct {
	Estimate
	Model *Model
	Err   error
	// Shadow is the challenger's answer in shadow mode (measured, never published).
	Shadow *Result
}

// NewEngine starts with m active.
func NewEngine(m *Model) *Engine {
	e := &Engine{}
	e.cur.Store(&routing{champion: m})
	return e
}

// Active returns the champion.
func (e *Engine) Active() *Model { return e.cur.Load().champion }

// Challenger returns the challenger, its share of windows and whether it runs in shadow.
func (e *Engine) Challenger() (m *Model, split float64, shadow bool) {
	r := e.cur.Load()
	return r.challenger, r.split, r.shadow
}

// Swap makes m the champion and closes the models no longer used once their in-flight
// windows are done, without waiting for that. An A/B test goes on when its challenger takes
// the same features as m (a registry update of the champion does not end the operator's
// test); it ends, and Swap reports false, when the challenger's preprocessing differs or m
// is the challenger itself.
func (e *Engine) Swap(m *Model) (keptChallenger bool) {
	for {
		old := e.cur.Load()
		next := &routing{champion: m}
		if c := old.challenger; c != nil && c != m && reflect.DeepEqual(c.Contract.Preprocess, m.Contract.Preprocess) {
			next.challenger, next.split, next.shadow = c, old.split, old.shadow
		}
		if !e.cur.CompareAndSwap(old, next) {
			continue
		}
		for _, o := range []*Model{old.champion, old.challenger} {
			if o != nil && o != m && o != next.challenger {
				go o.Close() // Close blocks until the model's last Predict returns.
			}
		}
		return old.challenger == nil || next.challenger != nil
	}
}

// SetChallenger starts an A/B test: a split fraction of windows (chosen from their IDs) goes
// to m, or, in shadow mode, every window also runs on m and only the champion's answer is
// used. A nil m ends the test.
func (e *Engine) SetChallenger(m *Model, split float64, shadow bool) {
	for {
		old := e.cur.Load()
		next := &routing{champion: old.champion, challenger: m, split: math.Max(0, math.Min(1, split)), shadow: shadow}
		if m == nil {
			next.split, next.shadow = 0, false
		}
		if e.cur.CompareAndSwap(old, next) {
			if old.challenger != nil && old.challenger != m && old.challenger != old.champion {
				go old.challenger.Close()
			}
			return
		}
	}
}

// RouteFraction maps a window ID to [0,1) deterministically; IDs below the split go to the
// challenger.
func RouteFraction(id string) float64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return float64(h.Sum64()>>11) / (1 << 53)
}

// Predict runs every job and returns one result per job, in order. It returns ErrNoModel
// when the model it would run was closed and nothing replaced it, and ctx's error once ctx
// ends.
func (e *Engine) Predict(ctx context.Context, jobs []Job) ([]Result, error) {
	r := e.cur.Load()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := e.predict(ctx, r, jobs)
		if !errors.Is(err, ErrNoModel) {
			return res, err
		}
		// Swap stores the new routing before it closes the old models, so a model closed
		// under us has a successor to retry on. The same routing means the model was closed
		// without one: retrying would spin.
		next := e.cur.Load()
		if next == r {
			return nil, err
		}
		r = next
	}
}

func (e *Engine) predict(ctx context.Context, r *routing, jobs []Job) ([]Result, error) {
	if r.champion == nil {
		return nil, ErrNoModel
	}
	res := make([]Result, len(jobs))
	var champ, chall []int
	for i, j := range jobs {
		if r.challenger != nil && !r.shadow && RouteFraction(j.ID) < r.split {
			chall = append(chall, i)
		} else {
			champ = append(champ, i)
		}
	}
	run := func(m *Model, idx []int, into func(i int, r Result)) error {
		if len(idx) == 0 {
			return nil
		}
		feats := make([][]float32, len(idx))
		for k, i := range idx {
			feats[k] = jobs[i].Features
		}
		est, errs, err := m.Predict(ctx, feats)
		if err != nil {
			return err
		}
		for k, i := range idx {
			into(i, Result{Estimate: est[k], Model: m, Err: errs[k]})
		}
		return nil
	}
	set := func(i int, x Result) { res[i] = x }
	if err := run(r.champion, champ, set); err != nil {
		return nil, err
	}
	if err := run(r.challenger, chall, set); err != nil {
		return nil, err
	}
	if r.challenger != nil && r.shadow {
		err := run(r.challenger, champ, func(i int, x Result) { res[i].Shadow = &x })
		if err != nil && !errors.Is(err, ErrNoModel) {
			return nil, err
		}
	}
	return res, nil
}
