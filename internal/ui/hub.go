package ui

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/internal/pipeline"
	"github.com/heimdall/edged/store"
)

// Defaults used for zero Config fields.
const (
	DefaultMaxClients         = 8
	DefaultClientQueue        = 64
	DefaultMaxFramesPerSecond = 10
	DefaultRecentFixes        = 200
	// MaxRecentFixes is the most fixes /ui/fixes returns.
	MaxRecentFixes = 1000
)

// Display limits: a frame is at most maxCols frequency columns by maxLines time lines per
// window, whatever the model's shape (a phone screen has a few hundred pixels across).
const (
	maxCols  = 256
	maxLines = 4
	// slots is how many decimated windows can wait for the hub's goroutine; beyond that the
	// pipeline skips the display of a window rather than wait.
	slots = 8
	// writeTimeout bounds one write to a page: a browser that reads nothing for this long is
	// disconnected (it reconnects by itself when it wakes up).
	writeTimeout = 10 * time.Second
	// historyFrames is how many recent waterfall frames a page gets when it connects, so that
	// it shows the last seconds at once (160 frames of 4 lines fill a tall phone screen).
	historyFrames = 160
)

// ErrTooManyClients is returned when Config.MaxClients pages are already live.
var ErrTooManyClients = errors.New("ui: too many live pages")

// Config tunes the live feed. Zero fields take the Default… values.
type Config struct {
	// MaxClients bounds the pages connected to the live feed at once (default 8); one more
	// gets 503 and retries later.
	MaxClients int
	// ClientQueue is how many events wait for one page; when a slow page lets it fill, the
	// events that do not fit are dropped for that page and counted (default 64).
	ClientQueue int
	// MaxFramesPerSecond bounds the waterfall frames sent each second (default 10, what a
	// phone draws without effort). Windows arriving faster are merged, keeping each cell's
	// maximum.
	MaxFramesPerSecond float64
	// RecentFixes is how many fixes the page shows (default 200, at most MaxRecentFixes).
	RecentFixes int
}

func (c Config) withDefaults() Config {
	if c.MaxClients <= 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.ClientQueue <= 0 {
		c.ClientQueue = DefaultClientQueue
	}
	if c.MaxFramesPerSecond <= 0 {
		c.MaxFramesPerSecond = DefaultMaxFramesPerSecond
	}
	if c.RecentFixes <= 0 {
		c.RecentFixes = DefaultRecentFixes
	}
	c.RecentFixes = min(c.RecentFixes, MaxRecentFixes)
	return c
}

// Hub is the pipeline's Tap and the live feed's fan-out. Create it with NewHub, start Run,
// and give it to every pipeline.Config. Its methods are safe for concurrent use.
type Hub struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	status func() Status

	// Counted on every call, clients or not: the page's rates come from them.
	windows, passed, fixes atomic.Uint64
	lastWindow             atomic.Int64 // unix ns of the last window, 0 before the first
	streamStart            atomic.Int64 // unix ns of the last Stream call

	live   atomic.Int32 // len(clients), read by publishers without the lock
	geom   atomic.Pointer[geometry]
	gen    atomic.Uint64
	free   chan *slot
	queue  chan *slot
	fixq   chan []store.Fix
	meta   chan struct{}
	done   chan struct{}
	closed sync.Once

	mu      sync.Mutex
	clients map[*client]struct{}
	rates   rateWindow
	history [][]byte // the newest frames of the current stream, oldest first
}

// client is one live page.
type client struct {
	ch      chan []byte
	dropped atomic.Uint64
}

// slot carries one decimated window from the pipeline to the hub's goroutine.
type slot struct {
	g     *geometry
	w     pipeline.WindowInfo
	cells []float32 // lines × cols, row-major by line
}

// NewHub builds a hub. status is called once a second while pages are live (and when one
// joins) to fill the state panel; it may be nil. reg receives the feed's metrics; nil keeps
// them private. log may be nil.
func NewHub(cfg Config, status func() Status, reg prometheus.Registerer, log *slog.Logger) (*Hub, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if status == nil {
		status = func() Status { return Status{} }
	}
	h := &Hub{
		cfg:     cfg.withDefaults(),
		log:     log,
		status:  status,
		free:    make(chan *slot, slots),
		queue:   make(chan *slot, slots),
		fixq:    make(chan []store.Fix, 64),
		meta:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		clients: map[*client]struct{}{},
	}
	var err error
	if h.m, err = newMetrics(reg, h); err != nil {
		return nil, err
	}
	for range slots {
		h.free <- &slot{cells: make([]float32, maxCols*maxLines)}
	}
	return h, nil
}

// Config returns the configuration in effect, defaults filled in.
func (h *Hub) Config() Config { return h.cfg }

// Stream implements pipeline.Tap: it prepares the display of a new run's windows.
func (h *Hub) Stream(si pipeline.StreamInfo) {
	h.streamStart.Store(time.Now().UnixNano())
	h.geom.Store(newGeometry(si, h.gen.Add(1)))
	select {
	case h.meta <- struct{}{}:
	default: // a meta event is already pending; it will carry the newest geometry
	}
}

// Window implements pipeline.Tap. With no page live it only counts; otherwise it averages
// the features into one display frame in a free slot and queues it for the hub, or skips
// the window's display (counted) when every slot is taken. It never blocks or allocates.
func (h *Hub) Window(w pipeline.WindowInfo, features []float32) {
	h.windows.Add(1)
	if w.Passed {
		h.passed.Add(1)
	}
	h.lastWindow.Store(time.Now().UnixNano())
	if h.live.Load() == 0 {
		return
	}
	g := h.geom.Load()
	if g == nil || len(features) != g.rows*g.frames {
		return
	}
	var s *slot
	select {
	case s = <-h.free:
	default:
		h.m.busy.Inc()
		return
	}
	s.g, s.w = g, w
	g.decimate(s.cells[:g.cols*g.lines], features)
	h.queue <- s // never blocks: the queue holds as many as there are slots
}

// Fixes implements pipeline.Tap: it hands a copy of the committed fixes to the hub's
// goroutine (the caller reuses its slice), or drops them from the live feed (counted) if it
// is behind. The page also loads the newest fixes from the store when it connects, so a
// dropped fix shows after a reload.
func (h *Hub) Fixes(fixes []store.Fix) {
	h.fixes.Add(uint64(len(fixes)))
	if h.live.Load() == 0 {
		return
	}
	select {
	case h.fixq <- append([]store.Fix(nil), fixes...):
	default:
		h.m.busy.Inc()
	}
}

// join registers a page, or refuses it when MaxClients are live. It returns the recent
// frames the page has not been sent: every later one goes to its queue.
func (h *Hub) join() (*client, [][]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
		return nil, nil, errClosed
	default:
	}
	if len(h.clients) >= h.cfg.MaxClients {
		h.m.refused.Inc()
		return nil, nil, ErrTooManyClients
	}
	c := &client{ch: make(chan []byte, h.cfg.ClientQueue)}
	h.clients[c] = struct{}{}
	h.live.Store(int32(len(h.clients)))
	return c, append([][]byte(nil), h.history...), nil
}

func (h *Hub) leave(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
	h.live.Store(int32(len(h.clients)))
}

var errClosed = errors.New("ui: hub stopped")

// broadcast queues one encoded event to every page, dropping it for pages whose queue is
// full.
func (h *Hub) broadcast(ev []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c.ch <- ev:
		default:
			c.dropped.Add(1)
			h.m.slow.Inc()
		}
	}
}

// Clients is the number of live pages.
func (h *Hub) Clients() int { return int(h.live.Load()) }

// Run merges, encodes and fans out until ctx ends, then disconnects every page. Call it
// once.
func (h *Hub) Run(ctx context.Context) {
	defer h.closed.Do(func() { close(h.done) })
	interval := time.Duration(float64(time.Second) / h.cfg.MaxFramesPerSecond)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	var (
		pend     frame
		lastSent time.Time
		sc       scale
	)
	send := func() {
		if pend.n == 0 {
			return
		}
		if sc.gen != pend.g.gen {
			sc = scale{gen: pend.g.gen}
		}
		ev := pend.encode(&sc)
		pend.n = 0
		lastSent = time.Now()
		h.mu.Lock()
		if len(h.history) == historyFrames {
			h.history = append(h.history[:0], h.history[1:]...)
		}
		h.history = append(h.history, ev)
		h.mu.Unlock()
		h.broadcast(ev)
	}
	h.sampleRates(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.meta:
			if g := h.geom.Load(); g != nil {
				send()
				h.mu.Lock()
				h.history = h.history[:0]
				h.mu.Unlock()
				h.broadcast(g.meta)
			}
		case s := <-h.queue:
			if pend.n > 0 && pend.g != s.g {
				send()
			}
			pend.add(s)
			h.free <- s
			if since := time.Since(lastSent); since >= interval {
				send()
			} else if pend.n == 1 {
				flush.Reset(interval - since)
			}
		case <-flush.C:
			send()
		case fixes := <-h.fixq:
			for _, f := range fixes {
				// A stored fix is packed; the page gets the GeoJSON the API serves.
				body, err := infer.Unpack(f.Body)
				if err != nil || len(body) == 0 {
					h.log.Warn("ui: fix not shown", "id", f.ID, "err", err)
					continue
				}
				h.broadcast(sseEvent("fix", body))
			}
		case now := <-tick.C:
			h.sampleRates(now)
			if h.live.Load() > 0 {
				h.broadcast(h.stateEvent(now))
			}
		}
	}
}

func (h *Hub) sampleRates(now time.Time) {
	w, f := h.windows.Load(), h.fixes.Load()
	h.mu.Lock()
	h.rates.add(now, w, f)
	h.mu.Unlock()
}
