package configs

import (
	"testing"
)

// FuzzDecode: any YAML gives a config or an error with its line, never a panic; what
// decodes validates without panicking.
func FuzzDecode(f *testing.F) {
	f.Add(Default)
	f.Add([]byte("mqtt:\n  broker: tcp://x\n  qos: 7\n"))
	f.Add([]byte("source: [1, 2\n"))
	f.Add([]byte("fix: {vertices: -1}\nhttp: {listen: ':'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		if err := decode(Default, "defaults", &c); err != nil {
			t.Fatal(err)
		}
		if err := decode(data, "fuzz", &c); err != nil {
			return
		}
		_ = c.Validate()
	})
}
