package mlflow

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heimdall/edged/configs/check"
	"github.com/heimdall/edged/internal/backoff"
)

// maxPEMBytes bounds a certificate file: a PEM bundle is kilobytes.
const maxPEMBytes = 1 << 20

// maxJSONBytes bounds a JSON answer so a hostile server cannot exhaust memory.
const maxJSONBytes = 32 << 20

// maxErrorBodyBytes bounds how much of an error body is read and quoted.
const maxErrorBodyBytes = 64 << 10

// Client talks to one MLflow tracking server. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	http *http.Client
	log  *slog.Logger
}

// New builds a client. It reads the TLS files named in cfg but does not dial.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, _ := url.Parse(strings.TrimRight(cfg.TrackingURI, "/"))
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.InsecureTLS {
			tlsCfg.InsecureSkipVerify = true //nolint:gosec // the operator asked for it (MLFLOW_TRACKING_INSECURE_TLS)
		}
		if cfg.ServerCertPath != "" {
			pem, err := check.ReadFile(cfg.ServerCertPath, maxPEMBytes)
			if err != nil {
				return nil, fmt.Errorf("%w: server cert: %w", ErrInvalidConfig, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: server cert %s: no PEM certificates", ErrInvalidConfig, cfg.ServerCertPath)
			}
			tlsCfg.RootCAs = pool
		}
		if cfg.ClientCertPath != "" {
			// requests' cert=<pem> takes one file with both certificate and key.
			pem, err := check.ReadFile(cfg.ClientCertPath, maxPEMBytes)
			if err != nil {
				return nil, fmt.Errorf("%w: client cert: %w", ErrInvalidConfig, err)
			}
			cert, err := tls.X509KeyPair(pem, pem)
			if err != nil {
				return nil, fmt.Errorf("%w: client cert %s: %w", ErrInvalidConfig, cfg.ClientCertPath, err)
			}
			tlsCfg.Certificates = []tls.Certificate{cert}
		}
		tr.TLSClientConfig = tlsCfg
		hc = &http.Client{Transport: tr}
	}
	return &Client{cfg: cfg, base: base, http: hc, log: log}, nil
}

// retryable reports whether MLflow's client retries this status.
func retryable(status int) bool {
	switch status {
	case 408, 429, 500, 502, 503, 504:
		return true
	}
	return false
}

// request describes one logical call; do retries it.
type request struct {
	method string
	u      *url.URL
	body   []byte // JSON, for POST
}

// response is a 200 answer whose body resets the silence timer on every read.
type response struct {
	*http.Response
	done func()
}

func (r *response) Close() {
	r.Body.Close()
	r.done()
}

// do sends req with retries and returns a 200 response or an error. The
// caller must Close the response.
func (c *Client) do(ctx context.Context, req request) (*response, error) {
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.wait(ctx, attempt, lastErr); err != nil {
				return nil, err
			}
		}
		resp, err := c.attempt(ctx, req)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return nil, err
		}
		if attempt >= c.cfg.MaxRetries || !transient(err) {
			return nil, err
		}
		c.log.Debug("mlflow request failed, will retry", "path", req.u.Path, "attempt", attempt+1, "err", err)
	}
}

// transient reports whether a failed attempt is worth retrying.
func transient(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return retryable(ae.HTTPStatus)
	}
	if errors.Is(err, ErrTimeout) {
		return true
	}
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// retryAfterError carries the server's Retry-After wish alongside the APIError.
type retryAfterError struct {
	*APIError
	after time.Duration
}

func (e *retryAfterError) Unwrap() error { return e.APIError }

// wait sleeps before retry number attempt: the shared capped, jittered backoff
// (Config.retryPolicy), or the server's Retry-After instead, capped at BackoffMax too.
func (c *Client) wait(ctx context.Context, attempt int, lastErr error) error {
	d := c.cfg.retryPolicy().Delay(attempt)
	var ra *retryAfterError
	if errors.As(lastErr, &ra) && ra.after > 0 {
		d = min(ra.after, c.cfg.BackoffMax)
	}
	if backoff.Sleep(ctx, d) != nil {
		return fmt.Errorf("mlflow: waiting to retry after %v: %w", lastErr, context.Cause(ctx))
	}
	return nil
}

// attempt makes one HTTP exchange. The attempt is cancelled when the server
// stays silent for RequestTimeout (while waiting for headers or between body
// reads), which is how requests' read timeout behaves.
func (c *Client) attempt(parent context.Context, req request) (*response, error) {
	ctx, cancel := context.WithCancelCause(parent)
	timer := time.AfterFunc(c.cfg.RequestTimeout, func() { cancel(ErrTimeout) })
	var once sync.Once
	done := func() { once.Do(func() { timer.Stop(); cancel(context.Canceled) }) }

	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, req.u.String(), body)
	if err != nil {
		done()
		return nil, fmt.Errorf("mlflow: build request: %w", err)
	}
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	hreq.Header.Set("User-Agent", "edged-mlflow")
	c.authorize(hreq)
	resp, err := c.http.Do(hreq)
	if err != nil {
		cause := context.Cause(ctx)
		done()
		if errors.Is(cause, ErrTimeout) && parent.Err() == nil {
			return nil, fmt.Errorf("mlflow: %s %s: %w after %v", req.method, req.u.Path, ErrTimeout, c.cfg.RequestTimeout)
		}
		return nil, fmt.Errorf("mlflow: %s %s: %w", req.method, req.u.Path, scrub(err))
	}
	if resp.StatusCode != http.StatusOK {
		defer done()
		defer resp.Body.Close()
		return nil, c.apiError(resp)
	}
	resp.Body = &idleBody{rc: resp.Body, timer: timer, timeout: c.cfg.RequestTimeout, ctx: ctx, parent: parent}
	return &response{Response: resp, done: done}, nil
}

// scrub removes the URL's query from a *url.Error: it never holds secrets
// here, but messages stay short and stable.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// authorize adds credentials, but only for the tracking server itself: an
// artifact URI naming another host must not receive them.
func (c *Client) authorize(r *http.Request) {
	if !strings.EqualFold(r.URL.Host, c.base.Host) || r.URL.Scheme != c.base.Scheme {
		return
	}
	switch {
	case c.cfg.Username != "" && c.cfg.Password != "":
		r.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	case c.cfg.Token != "":
		r.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
}

// apiError turns a non-200 answer into an *APIError, reading a bounded body.
func (c *Client) apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	ae := &APIError{HTTPStatus: resp.StatusCode}
	var j struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(b, &j) == nil && j.ErrorCode != "" {
		ae.Code, ae.Message = j.ErrorCode, j.Message
	} else {
		ae.Code = codeForStatus(resp.StatusCode)
		ae.Message = strings.TrimSpace(truncate(string(b), 200))
		if ae.Message == "" {
			ae.Message = http.StatusText(resp.StatusCode)
		}
	}
	if v := resp.Header.Get("Retry-After"); v != "" && retryable(resp.StatusCode) {
		if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
			return &retryAfterError{APIError: ae, after: time.Duration(s) * time.Second}
		}
		if t, err := http.ParseTime(v); err == nil {
			return &retryAfterError{APIError: ae, after: time.Until(t)}
		}
	}
	return ae
}

// idleBody re-arms the silence timer on each read and reports a timeout or a
// cut connection as such.
type idleBody struct {
	rc      io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
	ctx     context.Context
	parent  context.Context
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.timeout)
	}
	if err != nil && err != io.EOF {
		if errors.Is(context.Cause(b.ctx), ErrTimeout) && b.parent.Err() == nil {
			return n, fmt.Errorf("mlflow: reading body: %w after %v", ErrTimeout, b.timeout)
		}
		if b.parent.Err() == nil {
			return n, fmt.Errorf("mlflow: reading body: %w: %w", ErrTruncated, err)
		}
	}
	return n, err
}

func (b *idleBody) Close() error { return b.rc.Close() }

// api builds a URL under <tracking uri>/api/2.0/mlflow/.
func (c *Client) api(path string, q url.Values) *url.URL {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + "/api/2.0/mlflow/" + strings.TrimLeft(path, "/")
	u.RawPath = ""
	u.RawQuery = q.Encode()
	return &u
}

// getJSON GETs u and returns the bounded body of the 200 answer.
func (c *Client) getJSON(ctx context.Context, u *url.URL) ([]byte, error) {
	return c.callJSON(ctx, request{method: http.MethodGet, u: u})
}

func (c *Client) callJSON(ctx context.Context, req request) ([]byte, error) {
	var lastErr error
	// A body cut mid-way is retried like a refused connection: small JSON
	// answers are cheap to ask again.
	for tries := 0; tries < 2; tries++ {
		resp, err := c.do(ctx, req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBytes+1))
		resp.Close()
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				return nil, err
			}
			continue
		}
		if len(b) > maxJSONBytes {
			return nil, fmt.Errorf("%w: %s answer exceeds %d bytes", ErrBadResponse, req.u.Path, maxJSONBytes)
		}
		return b, nil
	}
	return nil, lastErr
}

// VersionByAlias returns the version the alias points to. A missing alias
// (MLflow's 400) matches ErrAliasNotFound and ErrNotFound.
func (c *Client) VersionByAlias(ctx context.Context, name, alias string) (ModelVersion, error) {
	b, err := c.getJSON(ctx, c.api("registered-models/alias", url.Values{"name": {name}, "alias": {alias}}))
	if err != nil {
		return ModelVersion{}, fmt.Errorf("mlflow: version of %s@%s: %w", name, alias, err)
	}
	mv, err := DecodeModelVersion(b)
	if err != nil {
		return ModelVersion{}, fmt.Errorf("mlflow: version of %s@%s: %w", name, alias, err)
	}
	return mv, nil
}

// GetVersion returns one version.
func (c *Client) GetVersion(ctx context.Context, name, version string) (ModelVersion, error) {
	b, err := c.getJSON(ctx, c.api("model-versions/get", url.Values{"name": {name}, "version": {version}}))
	if err != nil {
		return ModelVersion{}, fmt.Errorf("mlflow: version %s/%s: %w", name, version, err)
	}
	mv, err := DecodeModelVersion(b)
	if err != nil {
		return ModelVersion{}, fmt.Errorf("mlflow: version %s/%s: %w", name, version, err)
	}
	return mv, nil
}

// LatestVersion returns the newest version in stage ("" = any stage). MLflow
// answers one version per stage; the highest version number wins, never the
// first in the list (the replaced loader's bug). No version matches ErrNotFound.
func (c *Client) LatestVersion(ctx context.Context, name, stage string) (ModelVersion, error) {
	q := url.Values{"name": {name}}
	if stage != "" {
		q.Set("stages", stage)
	}
	b, err := c.getJSON(ctx, c.api("registered-models/get-latest-versions", q))
	if err != nil {
		return ModelVersion{}, fmt.Errorf("mlflow: latest %s in stage %q: %w", name, stage, err)
	}
	vs, _, err := DecodeModelVersions(b)
	if err != nil {
		return ModelVersion{}, fmt.Errorf("mlflow: latest %s in stage %q: %w", name, stage, err)
	}
	best, ok := maxVersion(vs, stage)
	if !ok {
		return ModelVersion{}, fmt.Errorf("mlflow: latest %s in stage %q: %w: no versions", name, stage, ErrNotFound)
	}
	return best, nil
}

// maxVersion picks the highest version number, filtering by stage
// case-insensitively in case a server ignores the stages parameter.
func maxVersion(vs []ModelVersion, stage string) (ModelVersion, bool) {
	var best ModelVersion
	bestN := int64(-1)
	for _, v := range vs {
		if stage != "" && !strings.EqualFold(v.CurrentStage, stage) {
			continue
		}
		n, err := v.Number()
		if err != nil {
			continue
		}
		if n > bestN {
			best, bestN = v, n
		}
	}
	return best, bestN >= 0
}

// maxSearchPages stops a server that keeps handing out page tokens.
const maxSearchPages = 1000

// SearchVersions returns every version matching filter (MLflow search
// syntax, e.g. "name='m'"), following next_page_token.
func (c *Client) SearchVersions(ctx context.Context, filter string) ([]ModelVersion, error) {
	var all []ModelVersion
	token := ""
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page >= maxSearchPages {
			return nil, fmt.Errorf("mlflow: search %q: %w: more than %d pages", filter, ErrBadResponse, maxSearchPages)
		}
		q := url.Values{"max_results": {"1000"}}
		if filter != "" {
			q.Set("filter", filter)
		}
		if token != "" {
			q.Set("page_token", token)
		}
		b, err := c.getJSON(ctx, c.api("model-versions/search", q))
		if err != nil {
			return nil, fmt.Errorf("mlflow: search %q: %w", filter, err)
		}
		vs, next, err := DecodeModelVersions(b)
		if err != nil {
			return nil, fmt.Errorf("mlflow: search %q: %w", filter, err)
		}
		all = append(all, vs...)
		if next == "" {
			return all, nil
		}
		if seen[next] {
			return nil, fmt.Errorf("mlflow: search %q: %w: page token %q repeats", filter, ErrBadResponse, truncate(next, 40))
		}
		seen[next] = true
		token = next
	}
}

// DownloadURI returns where a version's files are (get-download-uri).
func (c *Client) DownloadURI(ctx context.Context, name, version string) (string, error) {
	b, err := c.getJSON(ctx, c.api("model-versions/get-download-uri", url.Values{"name": {name}, "version": {version}}))
	if err != nil {
		return "", fmt.Errorf("mlflow: download uri of %s/%s: %w", name, version, err)
	}
	var r struct {
		ArtifactURI flexString `json:"artifact_uri"`
	}
	if err := decodeJSON(b, &r); err != nil {
		return "", fmt.Errorf("mlflow: download uri of %s/%s: %w", name, version, err)
	}
	if r.ArtifactURI == "" {
		return "", fmt.Errorf("mlflow: download uri of %s/%s: %w: empty artifact_uri", name, version, ErrBadResponse)
	}
	return string(r.ArtifactURI), nil
}
