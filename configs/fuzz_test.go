package configs

import (
	"testing"
)

// FuzzDecode: any YAML over the defaults gives a config or an error with its line, never a
// panic; what decodes validates without panicking.
func FuzzDecode(f *testing.F) {
	var defaults Config
	if err := decode(Default, "defaults", &defaults); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("receiver_id: rx\nsource:\n  kind: rtlsdr\n  rtlsdr: {device: ':0001', gain_mode: manual}\n"))
	f.Add([]byte("mqtt:\n  broker: tcp://x\n  qos: 7\n"))
	f.Add([]byte("source: [1, 2\n"))
	f.Add([]byte("fix: {vertices: -1}\nhttp: {listen: ':'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := defaults // Config holds no pointers: this is a copy
		if err := decode(data, "fuzz", &c); err != nil {
			return
		}
		_ = c.Validate()
	})
}
