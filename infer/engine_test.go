package infer

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Ensure that closing the engine's only model while Predict calls are running makes them
// return ErrNoModel within 100 ms instead of retrying forever: nothing replaced the model,
// so there is nothing to retry on.
func TestEngine_PredictReturnsWhenTheOnlyModelCloses(t *testing.T) {
	m := loadReference(t)
	e := NewEngine(m)
	jobs := []Job{{ID: "rx:0", Features: beaconFeatures(2, 30)}}
	if _, err := e.Predict(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	// Predict runs back to back, so Close lands during one of them (it waits for the call
	// in flight, and the next call finds the model closed).
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		for {
			if _, err := e.Predict(context.Background(), jobs); err != nil {
				done <- err
				return
			}
		}
	}()
	<-started
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNoModel) {
			t.Errorf("Predict after Close = %v, want ErrNoModel", err)
		}
		t.Logf("Predict returned %v after Close", time.Since(closed))
	case <-time.After(100 * time.Millisecond):
		t.Fatal("Predict still running 100 ms after its only model closed")
	}
}

// Ensure Predict honours its context: an ended context returns its error at once, even
// with the model gone.
func TestEngine_PredictHonoursContext(t *testing.T) {
	m := loadReference(t)
	e := NewEngine(m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	jobs := []Job{{ID: "rx:0", Features: beaconFeatures(2, 30)}}
	if _, err := e.Predict(ctx, jobs); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict with a cancelled context = %v, want context.Canceled", err)
	}
	m.Close()
	if _, err := e.Predict(ctx, jobs); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict with a cancelled context and a closed model = %v, want context.Canceled", err)
	}
}

// Ensure a Predict whose model is swapped out and closed under it still answers, on the
// model that replaced it.
func TestEngine_PredictFollowsSwap(t *testing.T) {
	a, b := loadReference(t), loadReference(t)
	e := NewEngine(a)
	jobs := []Job{{ID: "rx:0", Features: beaconFeatures(2, 30)}}
	e.Swap(b) // closes a in the background
	a.Close() // and for certain now
	res, err := e.Predict(context.Background(), jobs)
	if err != nil || len(res) != 1 || res[0].Model != b {
		t.Fatalf("Predict after a swap = %+v, %v; want one result from the new model", res, err)
	}
}

// Ensure a champion update keeps the operator's A/B test when the challenger takes the same
// features, and ends it (reporting so) when it cannot.
func TestEngine_SwapKeepsACompatibleChallenger(t *testing.T) {
	a, b, c := loadReference(t), loadReference(t), loadReference(t)
	e := NewEngine(a)
	e.SetChallenger(c, 0.25, false)
	if kept := e.Swap(b); !kept {
		t.Fatal("Swap to a model with the same preprocessing ended the A/B test")
	}
	if ch, split, shadow := e.Challenger(); ch != c || split != 0.25 || shadow {
		t.Fatalf("after Swap: challenger %p split %v shadow %v, want %p 0.25 false", ch, split, shadow, c)
	}
	res, err := e.Predict(context.Background(), []Job{{ID: "rx:0", Features: beaconFeatures(2, 30)}})
	if err != nil || len(res) != 1 {
		t.Fatalf("Predict after Swap: %v %v", res, err)
	}

	d := loadReference(t)
	d.Contract.Preprocess.WindowSamples *= 2 // other features: the challenger cannot follow
	if kept := e.Swap(d); kept {
		t.Error("Swap to a model with other preprocessing kept a challenger that cannot run on its features")
	}
	if ch, split, _ := e.Challenger(); ch != nil || split != 0 {
		t.Errorf("after an incompatible Swap: challenger %p split %v, want none", ch, split)
	}
	if kept := e.Swap(loadReference(t)); !kept {
		t.Error("Swap with no A/B test running reported ending one")
	}
}
