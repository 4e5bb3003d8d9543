package dsp

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// parityCase is one entry of testdata/parity/cases.json, written by scripts/dsp_reference.py.
type parityCase struct {
	Name       string  `json:"name"`
	ParamsFile string  `json:"params_file"`
	Params     *Params `json:"params"`
	Input      struct {
		CU8       string  `json:"cu8"`
		Offset    int     `json:"offset"`
		N         int     `json:"n"`
		Synthetic string  `json:"synthetic"`
		FS        float64 `json:"fs"`
	} `json:"input"`
	Expected string `json:"expected"`
}

// Ensure that edged's features equal the NumPy/SciPy reference of both Heimdall pipelines
// (and of the generic contract options) within 1e-4, on a real and on a synthetic recording.
func TestFeatures_Parity(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "parity", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []parityCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 4 {
		t.Fatalf("only %d parity cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			var p Params
			if tc.ParamsFile != "" {
				p = loadFixture(t, tc.ParamsFile)
			} else {
				p = *tc.Params
			}
			var x []complex64
			if tc.Input.CU8 != "" {
				all := readCU8(t, filepath.Join(iqRealDir(t), tc.Input.CU8))
				x = all[tc.Input.Offset : tc.Input.Offset+tc.Input.N]
			} else {
				x = synthetic(tc.Input.N, tc.Input.FS, synthFull)
			}
			if len(x) != p.WindowSamples {
				t.Fatalf("input has %d samples, params want %d", len(x), p.WindowSamples)
			}
			f, err := os.Open(filepath.Join("testdata", "parity", tc.Expected))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			shape, want, err := ReadNPY(f)
			if err != nil {
				t.Fatal(err)
			}
			fe, err := NewFrontend(p)
			if err != nil {
				t.Fatal(err)
			}
			rows, frames := fe.Shape()
			if len(shape) != 2 || shape[0] != rows || shape[1] != frames {
				t.Fatalf("Shape() = %d×%d, reference is %v", rows, frames, shape)
			}
			got := make([]float32, rows*frames)
			if _, err := fe.Features(x, got); err != nil {
				t.Fatal(err)
			}
			var worst float64
			at := 0
			for i := range want {
				if d := math.Abs(float64(got[i]) - want[i]); d > worst || math.IsNaN(d) {
					worst, at = d, i
				}
			}
			t.Logf("max |edged − reference| = %.2g at [%d][%d]", worst, at/frames, at%frames)
			if worst > 1e-4 || math.IsNaN(worst) {
				t.Errorf("max abs difference %.3g at [%d][%d] (got %g, want %g) exceeds 1e-4",
					worst, at/frames, at%frames, got[at], want[at])
			}
		})
	}
}
