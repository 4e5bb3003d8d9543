package geo_test

import (
	"fmt"

	"github.com/heimdall/edged/infer/geo"
)

// A fix's ellipse: σ east 100 m, σ north 50 m, ρ 0.3, at 95 %.
func ExamplePolygon() {
	c, err := geo.FromSigmas(100, 50, 0.3)
	if err != nil {
		panic(err)
	}
	e, err := geo.Axes(c, 0.95)
	if err != nil {
		panic(err)
	}
	g, err := geo.Polygon(48.1, 11.6, e, geo.DefaultVertices)
	if err != nil {
		panic(err)
	}
	fmt.Printf("a=%.1f m b=%.1f m orientation=%.1f° k=%.4f\n", e.SemiMajorM, e.SemiMinorM, e.OrientationDeg, e.Scale)
	fmt.Println(g.Type(), len(g.Polygons()[0][0]), "positions")
	fmt.Printf("bbox %.6f\n", g.BBox())
	// Output:
	// a=248.3 m b=115.1 m orientation=79.1° k=2.4477
	// Polygon 65 positions
	// bbox [11.596714 48.098899 11.603286 48.101101]
}
