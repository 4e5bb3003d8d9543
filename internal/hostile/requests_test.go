package hostile

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// heimdallBody is a predict body as Heimdall's Python client writes it: json.dumps of
// {"iq_data": [[i, q], …]} with repr floats.
func heimdallBody(samples int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	var b bytes.Buffer
	b.WriteString(`{"iq_data": [`)
	for i := range samples {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "[%s, %s]", strconv.FormatFloat(rng.Float64()*0.2-0.1, 'g', 17, 64), strconv.FormatFloat(rng.Float64()*0.2-0.1, 'g', 17, 64))
	}
	b.WriteString("]}")
	return b.Bytes()
}

// heimdallBatch is Heimdall's largest batch: 100 items of 2048 samples, about 9 MB.
func heimdallBatch() []byte {
	var b bytes.Buffer
	b.WriteString(`{"items": [`)
	for i := range 100 {
		if i > 0 {
			b.WriteString(", ")
		}
		item := heimdallBody(2048, uint64(i))
		fmt.Fprintf(&b, `{"id": "item-%d", "iq_data": %s}`, i, bytes.TrimSuffix(bytes.TrimPrefix(item, []byte(`{"iq_data": `)), []byte("}")))
	}
	b.WriteString("]}")
	return b.Bytes()
}

// expect checks a status and that the body says what it must.
func expect(code int, body string, want int, says ...string) error {
	if code != want {
		return fmt.Errorf("status %d, want %d: %.300s", code, want, body)
	}
	for _, s := range says {
		if !strings.Contains(body, s) {
			return fmt.Errorf("answer does not say %q: %.300s", s, body)
		}
	}
	return nil
}

// TestHostileRequests sends the daemon's API the bodies that once killed or starved it:
// nested brackets, an upsampling ratio of 4096, bodies over the limits, large bodies at
// once, and 100 clients sending their bodies slowly while a well-behaved client's requests
// must all succeed.
func TestHostileRequests(t *testing.T) {
	d := startDaemon(t, "receiver_id: rx\nfix: {print: none}\n")
	const predict, batch = "/api/v1/predict", "/api/v1/predict/batch"
	good := heimdallBody(2048, 1)
	nested := func(prefix string, n int) []byte { return append([]byte(prefix), bytes.Repeat([]byte("["), n)...) }
	cases := []struct {
		name string
		fn   func() error
	}{
		{"predict, 4.5 MB of brackets in session_id", func() error {
			code, body := d.post(predict, "application/json", nested(`{"session_id":`, 4_500_000))
			return expect(code, body, 400, "json_too_deep", "deeper than 32 levels")
		}},
		{"predict, 3.5 MB of brackets in iq_data", func() error {
			code, body := d.post(predict, "application/json", nested(`{"iq_data":`, 3_500_000))
			return expect(code, body, 400)
		}},
		{"batch, 1 MB of brackets in an item's id", func() error {
			code, body := d.post(batch, "application/json", nested(`{"items":[{"id":`, 1_000_000))
			return expect(code, body, 400, "json_too_deep")
		}},
		{"predict, 200 kB cu8 at 61.03515625 S/s", func() error {
			code, body := d.post(predict+"?format=cu8&sample_rate=61.03515625", "application/octet-stream", make([]byte, 200_000))
			return expect(code, body, 400, "more than 16× below")
		}},
		{"predict, 16 MiB of cs8 (8 Mi samples)", func() error {
			code, body := d.post(predict+"?format=cs8&sample_rate=250k", "application/octet-stream", make([]byte, 16<<20))
			return expect(code, body, 413)
		}},
		{"predict, a 17 MB body", func() error {
			code, body := d.post(predict, "application/json", bytes.Repeat([]byte(" "), 17<<20))
			return expect(code, body, 413, "body_too_large")
		}},
		{"predict, 1 GB announced, 10 bytes sent", func() error {
			return rawRequest(d.addr, "POST "+predict+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{\"iq_data\"", 413)
		}},
		{"predict, malformed JSON", func() error {
			code, body := d.post(predict, "application/json", []byte(`{"iq_data":[[1,2],[3,`))
			return expect(code, body, 400, "invalid_json")
		}},
		{"predict, NaN in cf32", func() error {
			code, body := d.post(predict+"?format=cf32&sample_rate=250k", "application/octet-stream", []byte{0, 0, 0xc0, 0x7f, 0, 0, 0, 0})
			return expect(code, body, 400, "not finite")
		}},
		{"batch, Heimdall's largest (100 × 2048 samples)", func() error {
			body := heimdallBatch()
			code, answer := d.post(batch, "application/json", body)
			if err := expect(code, answer, 200); err != nil {
				return fmt.Errorf("%d bytes: %w", len(body), err)
			}
			if n := strings.Count(answer, `"fix":`); n != 100 {
				return fmt.Errorf("%d fixes, want 100", n)
			}
			return nil
		}},
		{"predict, 6 bodies of 15 MB at once", func() error {
			big := bytes.Repeat([]byte("[0.1,0.2],"), 1_500_000)
			body := append(append([]byte(`{"iq_data":[`), big[:len(big)-1]...), ']', '}')
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, answer := d.post(predict, "application/json", body)
					if code != 200 && code != 503 {
						errs <- fmt.Errorf("status %d: %.200s", code, answer)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				return err
			}
			return nil
		}},
		{"predict, 100 slow bodies while a client's 30 requests all succeed", func() error {
			return slowBodies(d, good)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { d.check(t, c.name, c.fn) })
	}
}

// rawRequest writes a request by hand and wants status back.
func rawRequest(addr, request string, status int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte(request)); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(hangAfter))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != status {
		return fmt.Errorf("status %d, want %d", res.StatusCode, status)
	}
	return nil
}

// slowBodies opens 100 connections that announce a 100 kB predict body and send ten bytes
// of it, then sends 30 good requests, all of which must succeed; the slow ones must be
// answered 408 once their body deadline passes.
func slowBodies(d *daemon, good []byte) error {
	const slow = 100
	conns := make([]net.Conn, 0, slow)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range slow {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if _, err := fmt.Fprintf(c, "POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"iq_data\":"); err != nil {
			return err
		}
	}
	for i := range 30 {
		if code, body := d.post("/api/v1/predict", "application/json", good); code != 200 {
			return fmt.Errorf("good request %d during %d slow bodies: %d %.200s", i, slow, code, body)
		}
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(hangAfter))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return fmt.Errorf("slow connection %d: %w", i, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestTimeout {
			return fmt.Errorf("slow connection %d answered %d, want 408", i, res.StatusCode)
		}
	}
	return nil
}
