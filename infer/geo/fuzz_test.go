package geo

import (
	"math"
	"testing"
)

// FuzzPolygon drives the whole path a fix takes (σ → Cov → Axes →
// Polygon → JSON) and asserts it never panics and never emits invalid
// JSON, NaN, out-of-range coordinates or a bad ring. Seeds beyond these
// live in testdata/fuzz/FuzzPolygon.
func FuzzPolygon(f *testing.F) {
	f.Add(45.0, 7.0, 100.0, 50.0, 0.3, 0.95)
	f.Add(50.0, 179.9, 20e3, 20e3, 0.0, 0.95)    // antimeridian
	f.Add(89.9, 10.0, 20e3, 20e3, 0.0, 0.95)     // north pole
	f.Add(-89.9, -170.0, 30e3, 5e3, -0.7, 0.9)   // south pole
	f.Add(0.0, 0.0, 0.0, 0.0, 0.0, 0.95)         // σ = 0
	f.Add(10.0, -180.0, 1e6, 1.0, 1.0, 0.999999) // line, large
	f.Add(90.0, 0.0, 1.0, 1.0, 0.0, 0.5)
	f.Fuzz(func(t *testing.T, lat, lon, se, sn, rho, p float64) {
		c, err := FromSigmas(se, sn, rho)
		if err != nil {
			return
		}
		e, err := Axes(c, p)
		if err != nil {
			return
		}
		if !finite(e.SemiMajorM) || !finite(e.SemiMinorM) || !finite(e.OrientationDeg) ||
			e.OrientationDeg < 0 || e.OrientationDeg >= 180 || e.SemiMinorM > e.SemiMajorM {
			t.Fatalf("Axes(%+v, %v) = %+v", c, p, e)
		}
		g, err := Polygon(lat, lon, e, 64)
		if err != nil {
			if g.Polygons() != nil {
				t.Fatalf("error %v with a geometry", err)
			}
			return
		}
		checkGeometry(t, g)
		if math.IsNaN(g.BBox()[0]) {
			t.Fatal("NaN bbox")
		}
	})
}
