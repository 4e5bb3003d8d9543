package pipeline

import (
	"path/filepath"
	"testing"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/internal/testenv"
)

// Burst ranges [start, end) in samples, from ../shared/testdata/iq-real/MANIFEST.md.
var realBursts = map[string][][2]int{
	"rtl_433_tests/ec3k/01/gfile002.data":            {{48128, 56320}},
	"rtl_433_tests/danfoss/CFR/dfile001.data":        {{49152, 56320}},
	"rtl_433_tests/lacrosse/02/gfile003.data":        {{50176, 56320}},
	"rtl_433_tests/dsc/01/gfile001.data":             {{49152, 56320}},
	"rtl_433_tests/fineoffset/01/gfile001.data":      {{31744, 56320}},
	"rtl_433_tests/valeo/01/gfile001.data":           {{30720, 55296}},
	"rtl_433_tests/cresta_ws668/gfile005.data":       {{27648, 50176}, {62464, 86016}, {98304, 121856}},
	"rtl_433_tests/x10/01/record-x10-b1-on-001.data": {{34816, 52224}, {61440, 64512}, {65536, 79872}, {89088, 106496}, {115712, 133120}, {142336, 159744}, {168960, 172032}, {173056, 187392}},
	"rtl_433/radiohead_ask/03/g002_433.92M_250k.cu8": {{70656, 121856}},
	"rtl_433/g001_433.92M_250k.cu8":                  {{53248, 54272}, {73728, 82944}, {101376, 110592}, {130048, 139264}, {157696, 167936}, {186368, 195584}, {215040, 224256}, {242688, 252928}},
}

// Ensure the whole pipeline, on real off-air recordings at 250 kS/s, gives fixes in the
// windows the MANIFEST's bursts occupy and nowhere far from them.
func TestRealRecordingsGate(t *testing.T) {
	dir := testenv.IQRealDir(t)
	e := engine(t)
	const W = 16384 // the reference model's window
	const slack = 2048
	for name, bursts := range realBursts {
		t.Run(name, func(t *testing.T) {
			src, err := capture.OpenFile(filepath.Join(dir, name), capture.FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			offsets, _ := runSource(t, e, src)
			gated := map[int]bool{}
			for _, off := range offsets {
				gated[int(off)] = true
			}
			for off := range gated {
				near := false
				for _, b := range bursts {
					near = near || (off < b[1]+slack && off+W > b[0]-slack)
				}
				if !near {
					t.Errorf("fix for window [%d,%d) far from every burst %v", off, off+W, bursts)
				}
			}
			for _, b := range bursts {
				if b[1]-b[0] < 4096 {
					continue // a blip shorter than a quarter window need not pass the gate
				}
				hit := false
				for off := range gated {
					hit = hit || (off < b[1] && off+W > b[0])
				}
				if !hit {
					t.Errorf("burst %v gave no fix (fixes at %v)", b, gated)
				}
			}
		})
	}
}
