package uplink

import (
	"context"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/heimdall/edged/internal/lograte"
)

type pending struct {
	seq uint64
	tok mqtt.Token
}

func done(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// session drains the outbox over one connection until ctx ends or it drops, and returns
// how many publishes were still unacknowledged then (they stay in the outbox).
func (m *MQTT) session(ctx context.Context, c mqtt.Client, lost *lostSignal) (unacked int, err error) {
	var (
		queue  []pending // in Seq order, oldest first
		cursor uint64    // highest Seq handed to paho
		qos    = byte(m.cfg.QoS)
	)
	defer m.inflight.Store(0)
	ak := newAcker(m)
	// Flush acknowledgements before a reconnect re-reads the outbox, so fixes the broker
	// has are not sent again.
	defer ak.close()
	poll := time.NewTicker(m.pollPeriod)
	defer poll.Stop()
	// Refill only when a quarter of the window is free (or it is empty): one outbox read
	// per few acknowledgements instead of one per acknowledgement.
	refillAt := max(1, m.cfg.Inflight/4)
	for {
		if free := m.cfg.Inflight - len(queue); free >= refillAt || len(queue) == 0 {
			fixes, err := m.db.OutboxPeekAfter(cursor, free)
			if err != nil {
				// A store read error is not the broker's fault: keep the session, retry
				// on the next wake or poll.
				m.log.Error("uplink: reading the outbox", "err", err)
			}
			for _, f := range fixes {
				m.inflight.Store(int64(len(queue) + 1)) // before the broker can see it
				queue = append(queue, pending{f.Seq, c.Publish(m.topicFix, qos, false, f.Body)})
				cursor = f.Seq
			}
		}
		if len(queue) == 0 {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-lost.done():
				return 0, lost.cause()
			case <-m.wake:
			case <-poll.C:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return m.finish(queue, ak), ctx.Err()
		case <-lost.done():
			return len(queue), lost.cause()
		case <-queue[0].tok.Done():
			var err error
			if queue, err = m.ackDone(queue, ak); err != nil {
				return len(queue), err
			}
		}
	}
}

// ackDone removes the completed prefix of queue and hands it to the acker. On a failed
// publish it returns what is left of queue, the failed one first, with the error.
func (m *MQTT) ackDone(queue []pending, ak *acker) ([]pending, error) {
	var seqs []uint64
	i := 0
	var failed error
	for ; i < len(queue) && done(queue[i].tok); i++ {
		if err := queue[i].tok.Error(); err != nil {
			failed = fmt.Errorf("publish seq %d: %w", queue[i].seq, err)
			break
		}
		seqs = append(seqs, queue[i].seq)
	}
	m.published.Add(uint64(len(seqs)))
	ak.add(seqs)
	if failed != nil {
		// Later messages may be out already; reconnecting re-sends from the oldest
		// unacknowledged fix so order holds for first deliveries.
		return queue[i:], failed
	}
	n := copy(queue, queue[i:])
	queue = queue[:n]
	m.inflight.Store(int64(len(queue)))
	return queue, nil
}

// finish waits briefly on shutdown for fixes in flight, so a clean stop leaves no
// duplicates behind. It returns how many stayed unacknowledged.
func (m *MQTT) finish(queue []pending, ak *acker) int {
	deadline := time.NewTimer(finishWait)
	defer deadline.Stop()
	for len(queue) > 0 {
		select {
		case <-deadline.C:
			return len(queue)
		case <-queue[0].tok.Done():
			var err error
			if queue, err = m.ackDone(queue, ak); err != nil {
				return len(queue)
			}
		}
	}
	return 0
}

// acker deletes acknowledged fixes from the outbox in its own goroutine, so publishing
// goes on during the fsync. Acknowledgements arriving during one transaction are written
// together in the next, so the batch grows with the load.
type acker struct {
	m    *MQTT
	mu   sync.Mutex
	seqs []uint64
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	// failLog keeps a write failure that repeats (a full disk) to one line per 10 s.
	failLog lograte.Limiter
}

func newAcker(m *MQTT) *acker {
	a := &acker{m: m, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *acker) add(seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	a.mu.Lock()
	a.seqs = append(a.seqs, seqs...)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *acker) run() {
	defer close(a.done)
	for {
		select {
		case <-a.wake:
			a.flush()
		case <-a.stop:
			a.flush()
			return
		}
	}
}

func (a *acker) flush() {
	a.mu.Lock()
	seqs := a.seqs
	a.seqs = nil
	a.mu.Unlock()
	if len(seqs) == 0 {
		return
	}
	if err := a.m.db.OutboxAck(seqs...); err != nil {
		// The fixes stay in the outbox and will be sent again: duplicates, not loss.
		if ok, n := a.failLog.Allow(time.Now()); ok {
			a.m.log.Error("uplink: acknowledging delivered fixes in the outbox", "err", err, "failures", n)
		}
	}
}

// close writes what is pending and stops the goroutine.
func (a *acker) close() {
	close(a.stop)
	<-a.done
}
