package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Ensure a short closed-loop run against the in-process server answers every request,
// and that with no fresh inputs every request is a cache hit.
func TestClosedLoopAllHits(t *testing.T) {
	var out bytes.Buffer
	res, err := run(options{clients: 4, duration: 200 * time.Millisecond, mode: "closed", rate: 1, fresh: 0,
		samples: 256, repeat: 3, timeout: 10 * time.Second}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.errors) != 0 || len(res.latencies) == 0 || res.misses != 0 || res.hits != len(res.latencies) {
		t.Errorf("errors %v, %d answers, %d hits, %d misses\n%s", res.errors, len(res.latencies), res.hits, res.misses, out.String())
	}
	for _, want := range []string{"P50", "P95", "P99", "req/s", "100.0% hits", "errors      0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// Ensure an open-loop run sends rate×duration requests, all fresh (misses).
func TestOpenLoopFresh(t *testing.T) {
	var out bytes.Buffer
	res, err := run(options{clients: 1, duration: 200 * time.Millisecond, mode: "open", rate: 50, fresh: 1,
		samples: 256, repeat: 1, timeout: 10 * time.Second}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.latencies) + len(res.errors); n != 10 || res.misses != 10 || res.hits != 0 {
		t.Errorf("%d requests, %d misses, %d hits, errors %v", n, res.misses, res.hits, res.errors)
	}
}

// Ensure fresh bodies never repeat.
func TestFreshBodiesDiffer(t *testing.T) {
	g := newGenerator(16, 2)
	a, b := g.freshBody(), g.freshBody()
	if bytes.Equal(a, b) || bytes.Equal(g.repeated(0), g.repeated(1)) || !bytes.Equal(g.repeated(0), g.repeated(2)) {
		t.Errorf("fresh %q %q", a[:40], b[:40])
	}
}

// Ensure bad flags are refused.
func TestRunRejects(t *testing.T) {
	for _, o := range []options{{clients: 0, duration: time.Second, rate: 1, samples: 1, repeat: 1, mode: "closed"},
		{clients: 1, duration: time.Second, rate: 1, samples: 1, repeat: 1, mode: "sideways"},
		{clients: 1, duration: time.Second, rate: 1, samples: 1, repeat: 1, mode: "open", fresh: 2}} {
		if _, err := run(o, &bytes.Buffer{}); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
