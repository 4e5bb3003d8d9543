package infer

import (
	"math"
	"testing"

	"github.com/heimdall/edged/infer/geo"
)

// Ensure a major axis a hair west of north, which rounds to 180°, is written as 0°: the
// range is [0, 180).
func TestFixOrientationStaysBelow180(t *testing.T) {
	for _, tc := range []struct{ deg, want float64 }{{179.99996, 0}, {179.99994, 179.9999}, {0.00004, 0}, {90, 90}} {
		th := tc.deg * math.Pi / 180
		a2, b2 := 1000.0*1000, 100.0*100
		cov := geo.Cov{
			EastM2:      a2*math.Sin(th)*math.Sin(th) + b2*math.Cos(th)*math.Cos(th),
			NorthM2:     a2*math.Cos(th)*math.Cos(th) + b2*math.Sin(th)*math.Sin(th),
			EastNorthM2: (a2 - b2) * math.Sin(th) * math.Cos(th),
		}
		f, err := NewFeature(Window{ReceiverID: "rx"}, Result{Estimate: Estimate{LatDeg: 45, LonDeg: 7, Cov: cov}, Model: &Model{Name: "m"}}, FixOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Properties.OrientationDeg; got != tc.want {
			t.Errorf("major axis at %v°: orientation_deg %v, want %v", tc.deg, got, tc.want)
		}
	}
}
