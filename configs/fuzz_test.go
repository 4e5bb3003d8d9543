package configs

import (
	"testing"
)

// FuzzDecode: any YAML over the defaults gives a config or mistakes with their lines, never
// a panic or a hang; what decodes validates without panicking.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("receiver_id: rx\nsource:\n  kind: rtlsdr\n  rtlsdr: {device: ':0001', gain_mode: manual}\n"))
	f.Add([]byte("mqtt:\n  broker: tcp://x\n  qos: 7\n"))
	f.Add([]byte("source: [1, 2\n"))
	f.Add([]byte("fix: {vertices: -1}\nhttp: {listen: ':'}\n"))
	f.Add([]byte("a: &a [*a, *a]\nsource:\n  rtl_tcp: &t {ppm: 1}\n  rtlsdr: {<<: [*t, *t]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := DefaultConfig() // Config holds no pointers: this is a fresh copy
		o := &origins{file: "fuzz", at: map[string]origin{}}
		if errs := decode(data, "fuzz", &c, o); len(errs) > 0 {
			return
		}
		_ = c.Validate()
	})
}
