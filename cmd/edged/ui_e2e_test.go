package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/heimdall/edged/capture/rtltcptest"
	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/internal/synth"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/models/reference"
)

// tourRecording is the demo recording (beacon D bursting in every other window) followed by
// a burst from each other reference beacon at SNRs from 14 to 29 dB, so that the map shows
// ellipses of several sizes at eight sites, as cu8 at 250 kS/s.
func tourRecording(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	b.Write(configs.Demo)
	for i, name := range []string{"A", "B", "C", "E", "F", "G", "H"} {
		bc, err := reference.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		spec := synth.Spec{Format: "cu8", SampleRateHz: 250000, CenterFreqHz: 433.92e6, OffsetHz: bc.OffsetHz,
			SNRDB: 14 + 2.5*float64(i), WindowSamples: 16384, Windows: 4, Bursted: []int{1}, Seed: uint64(10 + i)}
		if err := synth.Generate(&b, spec); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// browserLog collects what a page must not show: console errors, uncaught exceptions,
// browser log errors, failed requests and HTTP errors.
type browserLog struct {
	mu       sync.Mutex
	problems []string
}

func (l *browserLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

func (l *browserLog) listen(ev any) {
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			l.add("console.%s: %s", e.Type, strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		l.add("exception: %s %s", e.ExceptionDetails.Text, e.ExceptionDetails.Exception.Description)
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			l.add("browser log: %s (%s)", e.Entry.Text, e.Entry.URL)
		}
	case *network.EventLoadingFailed:
		l.add("request failed: %s %s", e.Type, e.ErrorText)
	case *network.EventResponseReceived:
		if e.Response.Status >= 400 {
			l.add("HTTP %d for %s", e.Response.Status, e.Response.URL)
		}
	}
}

func (l *browserLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.problems
	l.problems = nil
	return p
}

// browser starts Debian's headless chromium with a fresh profile, or skips the test saying
// why when there is none or it cannot run here.
func browser(t *testing.T, bl *browserLog) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("SKIPPED: no chromium on PATH (scripts/deps.sh installs Debian's chromium); the status page was not tested in a browser")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(bl.listen))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Skipf("SKIPPED: chromium (%s) cannot run here: %v", path, err)
	}
	return ctx
}

// do runs browser actions with a time limit: chromedp's waits have none of their own.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(actx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ectx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS waits until the expression is truthy in the page, re-checking on every DOM change
// (the page changes its DOM as events arrive), or fails after limit.
func waitJS(t *testing.T, ctx context.Context, what, js string, limit time.Duration) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, limit+10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(pctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(limit))); err != nil {
		t.Fatalf("%s: not within %v: %v", what, limit, err)
	}
}

func apiFixCount(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/v1/fixes?limit=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fc struct {
		Features []json.RawMessage `json:"features"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&fc); err != nil {
		t.Fatal(err)
	}
	return len(fc.Features)
}

// Ensure the status page works in a real browser against the real daemon, fed the demo
// recording and a tour of the other beacons by an rtl_tcp server, with a real broker, a
// model synced from the fake MLflow registry and an A/B challenger: it loads with no
// console error or failed request (the bearer token is asked for only by the model
// actions), the state cards show the source, uplink, sync and A/B split, the waterfall
// moves, the map draws one ellipse per fix the API returns and a tap shows a fix's
// properties, and a stalled source shows as stalled within 6 s. It saves screenshots under
// build/.
func TestE2EStatusPageInBrowser(t *testing.T) {
	bl := &browserLog{}
	ctx := browser(t, bl)

	rtl := rtltcptest.Start(t, rtltcptest.Options{Payload: tourRecording(t)})
	// A paused server's stream never notices its connection closed: resume it before the
	// server's own cleanup waits for its streams.
	t.Cleanup(rtl.Resume)
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	fake := mlflowtest.New(t)
	v := fake.AddVersion("edged-beacon", mlflowtest.ONNXVersion(reference.Model))
	fake.SetAlias("edged-beacon", "champion", v)
	addr := testenv.FreeAddr(t)
	dir := t.TempDir()
	token, challenger := filepath.Join(dir, "token"), filepath.Join(dir, "challenger.onnx")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(challenger, reference.Model, 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, fmt.Sprintf(`
receiver_id: mast-7
state_dir: %s
source:
  kind: rtl_tcp
  rtl_tcp: {address: %s, center_freq_hz: 433920000, sample_rate_hz: 250000}
model:
  challenger: {path: %s, split: 0.1, mode: ab}
fix: {print: none}
mqtt: {broker: %s, reconnect_min_ms: 100}
http: {listen: %s, token_file: %s}
mlflow: {tracking_uri: %s, model_name: edged-beacon, alias: champion, interval_seconds: 2}
`, dir, rtl.Addr(), challenger, broker.URL(), addr, token, fake.URL), "MLFLOW_HTTP_REQUEST_MAX_RETRIES=0")
	testenv.Eventually(t, 60*time.Second, "readyz 200", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	do(t, ctx, "open the page", chromedp.EmulateViewport(1400, 1110), chromedp.Navigate("http://"+addr+"/"))
	waitJS(t, ctx, "live feed", `document.getElementById("conn").dataset.state === "live"`, 20*time.Second)
	waitJS(t, ctx, "source up", `document.getElementById("src-state").dataset.state === "up"`, 20*time.Second)
	waitJS(t, ctx, "uplink connected", `document.getElementById("up-state").dataset.state === "ok"`, 20*time.Second)
	waitJS(t, ctx, "model synced", `document.getElementById("sync-state").textContent === "in sync"`, 30*time.Second)
	if m := eval[string](t, ctx, `document.getElementById("model-name").textContent`); m != "edged-beacon v1" {
		t.Errorf("model card says %q, want the synced edged-beacon v1", m)
	}

	// The waterfall: two captures of the canvas 1 s apart differ.
	const canvas = `document.getElementById("wf").toDataURL()`
	waitJS(t, ctx, "first waterfall frame", `document.getElementById("wf-last").textContent.startsWith("window")`, 20*time.Second)
	before := eval[string](t, ctx, canvas)
	time.Sleep(time.Second) // the interval the check is about, not a synchronisation
	if after := eval[string](t, ctx, canvas); after == before {
		t.Error("the waterfall canvas did not change in 1 s")
	}

	// The model actions: the page asks for the token before calling the mutating route. The
	// button takes two taps within 3 s; they are given in one go, as a loaded machine can
	// let 3 s pass between two driven clicks.
	eval[chromedp.Void](t, ctx, `(() => { const b = document.getElementById("btn-reload"); b.click(); b.click(); })()`)
	waitJS(t, ctx, "token form", `!document.getElementById("token-form").hidden`, 5*time.Second)
	// chromedp's node actions (SendKeys, Click) wait on DOM queries that a page changing its
	// DOM many times a second can keep from settling: fill and submit the form from script.
	eval[chromedp.Void](t, ctx, `(() => { document.getElementById("token").value = "s3cret"; document.getElementById("token-form").requestSubmit(); })()`)
	waitJS(t, ctx, "reload done", `document.getElementById("model-msg").textContent.includes("active")`, 30*time.Second)
	if msg := eval[string](t, ctx, `document.getElementById("model-msg").dataset.tone`); msg != "ok" {
		t.Errorf("reload with the token: message tone %q", msg)
	}
	// A sync activation ends the A/B test (infer.Engine.Swap); a reload re-reads the config's
	// challenger, which the card then shows.
	waitJS(t, ctx, "A/B split shown", `document.getElementById("model-ab").textContent.includes("10 % of windows to edged-reference-beacon")`, 10*time.Second)

	// Every beacon of the tour on the map (a full tour is 11 fixes), one of them tapped for
	// the screenshot; the tap itself is checked once no fix arrives any more, below.
	waitJS(t, ctx, "a fix at every beacon", `document.querySelectorAll("#fixes path.fix").length >= 22`, 30*time.Second)
	tapNewest(t, ctx)
	shot(t, ctx, "status-page.png")

	// A stalled source shows as stalled within 6 s. On an overloaded machine the pipeline
	// runs behind its source (the samples wait in the socket) and the browser behind the
	// feed: the bound holds from a pipeline within half a second of its source and a page
	// within a second of the feed, which the test waits for.
	behind := func() float64 { return float64(rtl.SentBytes()/2)/16384 - scrape(t, addr, "edged_windows_total") }
	pageLagMs := func() int {
		return eval[int](t, ctx, `Number(document.getElementById("conn").dataset.lagMs || 1e9)`)
	}
	caughtUp := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if caughtUp = behind() < 8 && pageLagMs() < 1000; caughtUp {
			break
		}
	}
	// The state events the page gets from here on, for the failure message.
	eval[chromedp.Void](t, ctx, `(() => { window.__states = []; feed.es.addEventListener("state", (e) => {
		const s = JSON.parse(e.data); window.__states.push([Date.now(), s.source_state, s.last_window_age_seconds, s.windows_total]); }); })()`)
	rtl.Pause()
	stalledAt := time.Now()
	waitJS(t, ctx, "source stalled", `document.getElementById("src-state").dataset.state === "stalled"`, 60*time.Second)
	took := time.Since(stalledAt)
	states := fmt.Sprint(eval[any](t, ctx, `window.__states.map(([t, s, age, n]) => [t - `+fmt.Sprint(stalledAt.UnixMilli())+`, s, age, n])`))
	switch {
	case !caughtUp:
		// Only an overloaded machine gets here (a shared developer host); CI measures it.
		t.Logf("NOT MEASURED: for 60 s the daemon ran %.0f windows behind its source or the page %d ms behind the feed (machine overloaded); the stall showed %v after the source stopped",
			behind(), pageLagMs(), took.Round(10*time.Millisecond))
	case took > 6*time.Second:
		t.Errorf("the stall showed after %v, want within 6 s; state events [ms after the stop, state, last window age s, windows]: %s", took, states)
	default:
		t.Logf("stall shown %v after the source stopped", took.Round(10*time.Millisecond))
	}

	// No fix arrives while stalled: the page draws exactly what the API returns.
	var drawn, stored int
	for deadline := time.Now().Add(10 * time.Second); ; {
		stored = apiFixCount(t, addr)
		drawn = eval[int](t, ctx, `document.querySelectorAll("#fixes path.fix").length`)
		if drawn == min(stored, 200) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling two counts until they settle
	}
	if drawn != min(stored, 200) || stored == 0 {
		t.Errorf("%d ellipses drawn, the API returns %d fixes", drawn, stored)
	}
	t.Logf("%d ellipses drawn for %d fixes", drawn, stored)

	// A tap on the newest ellipse shows its properties.
	newest := eval[string](t, ctx, `document.querySelector("#fixes path.fix.newest").dataset.id`)
	tapNewest(t, ctx)
	waitJS(t, ctx, "newest fix's properties", fmt.Sprintf(`document.getElementById("props-title").textContent === %q`, newest), 5*time.Second)

	for _, p := range bl.take() {
		t.Errorf("page problem: %s", p)
	}

	// The same page on a phone.
	do(t, ctx, "open the page on a phone", chromedp.EmulateViewport(390, 1700, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Reload())
	waitJS(t, ctx, "phone: live feed", `document.getElementById("conn").dataset.state === "live"`, 20*time.Second)
	waitJS(t, ctx, "phone: fixes", `document.querySelectorAll("#fixes path.fix").length > 0`, 20*time.Second)
	if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("on a 390 px phone the page is %d px wide", w)
	}
	shot(t, ctx, "status-page-phone.png")
	for _, p := range bl.take() {
		t.Errorf("phone page problem: %s", p)
	}
}

// tapNewest clicks the middle of the newest ellipse with the mouse, as an operator would
// (the browser's hit testing picks the ellipse drawn on top there), until the properties
// of the fix it hit show: while fixes arrive the map may move between finding the ellipse
// and the click.
func tapNewest(t *testing.T, ctx context.Context) {
	t.Helper()
	for try := 1; ; try++ {
		xy := eval[[]float64](t, ctx, `(() => {
			const el = document.querySelector("#fixes path.fix.newest");
			el.scrollIntoView({block: "center"});
			const r = el.getBoundingClientRect();
			return [r.left + r.width / 2, r.top + r.height / 2];
		})()`)
		do(t, ctx, "tap the newest fix", chromedp.MouseClickXY(xy[0], xy[1]))
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := chromedp.Run(pctx, chromedp.Poll[chromedp.Void](`!document.getElementById("props").hidden`,
			chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(3*time.Second)))
		cancel()
		if err == nil {
			return
		}
		hit := eval[string](t, ctx, fmt.Sprintf(`(() => { const e = document.elementFromPoint(%g, %g); return e ? e.tagName + "#" + e.id + "." + e.getAttribute("class") : "nothing"; })()`, xy[0], xy[1]))
		if try == 3 {
			t.Fatalf("3 taps on the newest ellipse showed no properties (the last, at %.0f,%.0f, hit %s)", xy[0], xy[1], hit)
		}
		t.Logf("tap %d at %.0f,%.0f hit %s and showed no properties; again", try, xy[0], xy[1], hit)
	}
}

// shot saves the viewport as a PNG under build/.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(testenv.ModuleRoot(t), "build")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: build/%s", name)
}
