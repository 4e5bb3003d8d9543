package api

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/heimdall/edged/dsp"
	"github.com/heimdall/edged/infer"
)

// cacheKeyVersion changes whenever what a cached answer depends on changes. v2: windows cut
// by dsp.Windower (a resampled input keeps its last sample; the gate's SNR ignores padding).
const cacheKeyVersion = "edged-predict-v2"

// kit is the preprocessing for one model: its contract's parameters and a pool of
// frontends (each used by one goroutine at a time).
type kit struct {
	model        *infer.Model
	params       dsp.Params
	rows, frames int
	frontends    sync.Pool // *dsp.Frontend
	windowers    sync.Pool // *dsp.Windower, with its buffers and its last resampling filter
}

// Resampling a predict input: at most maxUpsample× up (the conditioner bounds the way down,
// 4096×), in chunks of chunkSamples input samples.
const (
	maxUpsample  = 16
	chunkSamples = 1 << 14
)

// kitFor returns the preprocessing of the engine's active model, building it on first use
// after a model swap.
func (s *Server) kitFor() (*kit, error) {
	m := s.deps.Engine.Active()
	if m == nil {
		return nil, errf(http.StatusServiceUnavailable, codeUnavailable, "no model loaded")
	}
	if k := s.kit.Load(); k != nil && k.model == m {
		return k, nil
	}
	s.kitMu.Lock()
	defer s.kitMu.Unlock()
	if k := s.kit.Load(); k != nil && k.model == m {
		return k, nil
	}
	fe, err := dsp.NewFrontend(m.Contract.Preprocess)
	if err != nil {
		return nil, errf(http.StatusServiceUnavailable, codeUnavailable,
			fmt.Sprintf("model %s %s: preprocessing: %v", m.Name, m.Version, err))
	}
	k := &kit{model: m, params: m.Contract.Preprocess}
	k.rows, k.frames = fe.Shape()
	k.frontends.Put(fe)
	s.kit.Store(k)
	return k, nil
}

func (k *kit) frontend() (*dsp.Frontend, error) {
	if fe, ok := k.frontends.Get().(*dsp.Frontend); ok {
		return fe, nil
	}
	return dsp.NewFrontend(k.params)
}

// windower returns a Windower for a stream at rateHz that pads any last partial window,
// however short: the caller asked for an answer on exactly its input.
func (k *kit) windower(rateHz float64) (*dsp.Windower, error) {
	if wd, ok := k.windowers.Get().(*dsp.Windower); ok {
		if err := wd.Reset(rateHz); err != nil {
			return nil, err
		}
		return wd, nil
	}
	return dsp.NewWindower(k.params, rateHz, 1)
}

// cacheKey is SHA-256 over the version tag, format, sample rate, centre frequency, the
// model's name, version and SHA-256, and the input bytes (see the package doc).
func cacheKey(in *input, m *infer.Model) [32]byte {
	h := sha256.New()
	var hdr []byte
	for _, f := range []string{cacheKeyVersion, in.format,
		strconv.FormatFloat(in.rateHz, 'g', -1, 64), strconv.FormatFloat(in.centerHz, 'g', -1, 64),
		m.Name, m.Version, m.SHA256} {
		hdr = binary.AppendUvarint(hdr, uint64(len(f))) // length-prefixed: fields cannot run together
		hdr = append(hdr, f...)
	}
	h.Write(hdr)
	in.hashInto(h)
	var key [32]byte
	h.Sum(key[:0])
	return key
}

// answer is one prediction's outcome.
type answer struct {
	body  []byte // the fix, as JSON
	cache string // "hit", "miss" or "off"
}

// predictOne answers one input from the cache or by computing it.
func (s *Server) predictOne(ctx context.Context, in *input) (answer, error) {
	k, err := s.kitFor()
	if err != nil {
		return answer{}, err
	}
	if in.cached != nil { // found by its alias
		s.metrics.cacheHits.Inc()
		return answer{body: in.cached, cache: "hit"}, nil
	}
	key := cacheKey(in, k.model)
	if in.hasAlias && in.useCache {
		s.aliases.put(in.alias, key)
	}
	state := "off"
	if s.cache != nil && in.useCache {
		b, ok, err := s.cache.get(key)
		if err != nil {
			s.log.Warn("api: cache read failed; computing", "err", err)
		}
		if ok {
			s.metrics.cacheHits.Inc()
			return answer{body: b, cache: "hit"}, nil
		}
		s.metrics.cacheMisses.Inc()
		state = "miss"
	}
	b, err := s.compute(ctx, in, k, key)
	if err != nil {
		return answer{}, err
	}
	if state == "miss" {
		s.cache.put(key, b)
	}
	return answer{body: b, cache: state}, nil
}

// compute runs the input through conditioning, features and the model and returns the
// fix of the window with the highest SNR.
func (s *Server) compute(ctx context.Context, in *input, k *kit, key [32]byte) ([]byte, error) {
	now := s.now()
	if in.rateHz*maxUpsample < k.params.SampleRateHz {
		return nil, badParam("sample_rate", fmt.Sprintf("%g S/s is more than %d× below the model's %g S/s: upsampling that far invents the signal",
			in.rateHz, maxUpsample, k.params.SampleRateHz))
	}
	wd, err := k.windower(in.rateHz)
	if err != nil {
		return nil, badParam("sample_rate", fmt.Sprintf("%g S/s cannot be resampled to the model's %g S/s: %v",
			in.rateHz, k.params.SampleRateHz, err))
	}
	defer k.windowers.Put(wd)
	up, down := wd.Ratio()
	F := k.rows * k.frames
	// The windows the input makes (the last one padded), each with its features and
	// measure, and the windower's buffers are reserved before anything is computed.
	windows := int64(len(in.samples))*int64(up)/int64(down)/int64(k.params.WindowSamples) + 1
	need := windows*(4*int64(F)+int64(unsafe.Sizeof(dsp.Measure{}))) + 3*8*int64(k.params.WindowSamples) + 8*32*int64(max(up, down))
	if err := in.lease.reserve(need, fmt.Sprintf("%d windows of %d features", windows, F)); err != nil {
		return nil, err
	}
	fe, err := k.frontend()
	if err != nil {
		return nil, errf(http.StatusServiceUnavailable, codeUnavailable, "preprocessing: "+err.Error())
	}
	feats := make([]float32, 0, windows*int64(F))
	meas := make([]dsp.Measure, 0, windows)
	emit := func(w dsp.Window) error {
		i := len(meas)
		feats = slices.Grow(feats, F)[:(i+1)*F]
		m, err := fe.FeaturesPadded(w.Samples, w.Valid, feats[i*F:])
		if err != nil {
			return fmt.Errorf("window %d features: %w", i, err)
		}
		meas = append(meas, m)
		return nil
	}
	// In chunks of about one window's worth, so the conditioned samples held at once stay
	// near one window whatever the input's length and rate ratio.
	chunk := max(1, k.params.WindowSamples*down/up)
	for i := 0; i < len(in.samples) && err == nil; i += chunk {
		err = wd.Write(in.samples[i:min(len(in.samples), i+chunk)], emit)
	}
	if err == nil {
		err = wd.Flush(emit)
	}
	k.frontends.Put(fe)
	if err != nil {
		return nil, err
	}
	n := len(meas)
	if n == 0 {
		return nil, badField("iq_data", "no samples")
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}

	// The answer is the best-SNR window's fix: run that one first and the rest only if
	// the model gives no finite answer for it.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	snr := func(i int) float64 {
		if v := meas[i].SNRDB; !math.IsNaN(v) {
			return v
		}
		return math.Inf(-1)
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch sa, sb := snr(a), snr(b); {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	id := s.cfg.ReceiverID + ":predict:" + hex.EncodeToString(key[:8])
	var lastErr error
	for _, batch := range [][]int{order[:1], order[1:]} {
		if len(batch) == 0 {
			continue
		}
		jobs := make([]infer.Job, len(batch))
		for j, i := range batch {
			jobs[j] = infer.Job{ID: id + ":" + strconv.Itoa(i), Features: feats[i*F : (i+1)*F]}
		}
		res, err := s.deps.Engine.Predict(ctx, jobs)
		if err != nil {
			return nil, inferError(err)
		}
		for j, i := range batch { // in SNR order: the first success is the answer
			r := res[j]
			if r.Err != nil {
				lastErr = r.Err
				continue
			}
			w := infer.Window{
				ReceiverID:   s.cfg.ReceiverID,
				Time:         now,
				CenterFreqHz: in.centerHz,
				SampleRateHz: in.rateHz,
				SampleOffset: wd.CaptureOffset(uint64(i)),
				Seq:          uint64(i),
				Measure:      meas[i],
			}
			f, err := infer.NewFeature(w, r, infer.FixOptions{ConfidenceLevel: s.cfg.ConfidenceLevel, Vertices: s.cfg.Vertices})
			if err != nil {
				lastErr = err
				continue
			}
			f.ID = id
			b, err := f.Marshal()
			if err != nil { // a measurement or estimate that is not finite
				return nil, errf(http.StatusUnprocessableEntity, codeUnprocessable,
					fmt.Sprintf("iq_data: the fix cannot be encoded (%v); are the samples in full scale ±1?", err))
			}
			return b, nil
		}
	}
	return nil, errf(http.StatusUnprocessableEntity, codeUnprocessable,
		fmt.Sprintf("iq_data: the model gave no usable answer for any of the %d windows: %v", n, lastErr))
}

func ctxError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errf(http.StatusServiceUnavailable, codeTimeout, "the request timed out")
	}
	return errf(http.StatusServiceUnavailable, codeUnavailable, "the request was cancelled")
}

func inferError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ctxError(err)
	case errors.Is(err, infer.ErrNoModel):
		return errf(http.StatusServiceUnavailable, codeUnavailable, "no model loaded")
	}
	return errf(http.StatusServiceUnavailable, codeUnavailable, "inference failed: "+err.Error())
}

// readPredict decodes a predict body in either form, taking a CPU slot (startWork) to
// do it. Call done when finished with the input: it gives the slot back.
func (s *Server) readPredict(r *http.Request, body *reqBody) (in *input, done func(), err error) {
	mt, err := mediaType(r)
	if err != nil {
		return nil, nop, err
	}
	switch mt {
	case "application/octet-stream":
		p, err := parseQuery(r.URL.Query(), true)
		if err != nil {
			return nil, nop, err
		}
		return s.readRaw(r, p, body)
	case "application/json":
		p, err := parseQuery(r.URL.Query(), false)
		if err != nil {
			return nil, nop, err
		}
		done, err := s.startWork(r.Context())
		if err != nil {
			return nil, nop, err
		}
		var alias [2]uint64
		if s.cache != nil {
			k, err := s.kitFor()
			if err != nil {
				done()
				return nil, nop, err
			}
			alias = s.aliases.of(k.model, r.URL.RawQuery, body.b)
			if key, ok := s.aliases.get(alias); ok {
				if b, ok, _ := s.cache.get(key); ok {
					body.release()
					return &input{cached: b}, done, nil
				}
			}
		}
		if err := body.lease.reserve(decodeBytes(len(body.b)), "decoding the body"); err != nil {
			done()
			return nil, nop, err
		}
		req, err := parsePredict(body.b)
		body.release() // the samples are decoded: the body is no longer needed
		if err != nil {
			done()
			return nil, nop, err
		}
		in, err := s.jsonInput(req, "iq_data", p, req.cacheEnabled)
		if err != nil {
			done()
			return nil, nop, err
		}
		in.lease = body.lease
		if s.cache != nil {
			in.alias, in.hasAlias = alias, true
		}
		return in, done, nil
	}
	return nil, nop, errf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
		fmt.Sprintf("Content-Type %s: want application/json or application/octet-stream", mt))
}

// decodeBytes bounds the memory decoding a JSON body of n bytes takes: a sample needs at
// least 6 bytes ("[0,0],") and becomes 8 (complex64), in slices that grow by doubling.
func decodeBytes(n int) int64 { return 2 * 8 * (int64(n)/6 + 1) }

func (s *Server) jsonInput(d iqRequest, field string, p queryParams, cacheEnabled *bool) (*input, error) {
	switch {
	case !d.set:
		return nil, errf(http.StatusBadRequest, codeMissingField, field+": required, [[i, q], …]")
	case len(d.samples) == 0:
		return nil, badField(field, "empty, want at least one [i, q] pair")
	case len(d.samples) > s.cfg.MaxSamples:
		return nil, errf(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			fmt.Sprintf("%s: %d samples, the limit is %d", field, len(d.samples), s.cfg.MaxSamples))
	}
	rate := p.rateHz
	if rate == 0 {
		k, err := s.kitFor()
		if err != nil {
			return nil, err
		}
		rate = k.params.SampleRateHz
	}
	return &input{samples: d.samples, format: formatJSON, rateHz: rate, centerHz: p.centerHz,
		useCache: cacheEnabled == nil || *cacheEnabled}, nil
}

func (s *Server) predict(w http.ResponseWriter, r *http.Request, body *reqBody) {
	in, done, err := s.readPredict(r, body)
	defer done()
	if err != nil {
		writeError(w, err)
		return
	}
	a, err := s.predictOne(r.Context(), in)
	done() // before writing: a slow reader must not hold a CPU slot
	if err != nil {
		s.logFailure(r, err)
		writeError(w, err)
		return
	}
	w.Header().Set("X-Edged-Cache", a.cache)
	writeBody(w, http.StatusOK, a.body)
}

// logFailure logs failures that are edged's, not the client's.
func (s *Server) logFailure(r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status < 500 {
		return
	}
	s.log.Warn("api: request failed", "path", r.URL.Path, "err", err)
}

// batchResponse keeps the shape of Heimdall's BatchPredictionResponse.
type batchResponse struct {
	Predictions []batchPrediction `json:"predictions"`
	TotalTimeMS float64           `json:"total_time_ms"`
	// SamplesPerSecond is successful items per second, as Heimdall defined it.
	SamplesPerSecond float64 `json:"samples_per_second"`
}

type batchPrediction struct {
	ID    string          `json:"id"`
	Fix   json.RawMessage `json:"fix,omitempty"`
	Cache string          `json:"cache,omitempty"`
	Error *apiError       `json:"error,omitempty"`
}

func (s *Server) batch(w http.ResponseWriter, r *http.Request, body *reqBody) {
	start := time.Now()
	mt, err := mediaType(r)
	if err == nil && mt != "application/json" {
		err = errf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type "+mt+": want application/json")
	}
	var p queryParams
	if err == nil {
		p, err = parseQuery(r.URL.Query(), false)
	}
	var (
		items        []iqRequest
		cacheEnabled *bool
	)
	if err == nil {
		err = body.lease.reserve(decodeBytes(len(body.b)), "decoding the body")
	}
	if err == nil {
		var done func()
		if done, err = s.startWork(r.Context()); err == nil {
			items, cacheEnabled, err = parseBatch(body.b)
			done()
		}
	}
	body.release()
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]batchPrediction, len(items))
	sem := make(chan struct{}, s.cfg.BatchConcurrency)
	var wg sync.WaitGroup
	for i, it := range items {
		id := it.id
		if id == "" {
			id = strconv.Itoa(i)
		}
		out[i].ID = id
		field := fmt.Sprintf("items[%d].iq_data", i)
		if it.err != nil {
			out[i].Error = it.err
			continue
		}
		in, err := s.jsonInput(it, field, p, cacheEnabled)
		if err != nil {
			out[i].Error = asAPIError(err)
			continue
		}
		in.lease = body.lease
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			done, err := s.startWork(r.Context())
			if err != nil {
				out[i].Error = asAPIError(err)
				return
			}
			a, err := s.predictOne(r.Context(), in)
			done()
			if err != nil {
				s.logFailure(r, err)
				out[i].Error = asAPIError(err)
				return
			}
			out[i].Fix, out[i].Cache = a.body, a.cache
		}()
	}
	wg.Wait()
	if err := r.Context().Err(); err != nil {
		writeError(w, ctxError(err))
		return
	}
	ok := 0
	for _, o := range out {
		if o.Error == nil {
			ok++
		}
	}
	elapsed := time.Since(start).Seconds()
	writeJSON(w, http.StatusOK, batchResponse{
		Predictions:      out,
		TotalTimeMS:      math.Round(elapsed*1e6) / 1e3,
		SamplesPerSecond: math.Round(float64(ok)/elapsed*1e3) / 1e3,
	})
}

func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return errf(http.StatusInternalServerError, codeInternal, "internal error")
}
