package geo

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// checkGeometry asserts everything RFC 7946 and edged's fixes (README) ask of a
// fix geometry; it is shared by the table, random and fuzz tests.
func checkGeometry(t testing.TB, g Geometry) {
	t.Helper()
	b, err := json.Marshal(g)
	if err != nil || !json.Valid(b) {
		t.Fatalf("marshal: %v\n%s", err, b)
	}
	var doc struct {
		Type        string
		Coordinates json.RawMessage
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	var polys [][][][2]float64
	switch doc.Type {
	case "Polygon":
		var p [][][2]float64
		if err := json.Unmarshal(doc.Coordinates, &p); err != nil {
			t.Fatalf("Polygon coordinates: %v\n%s", err, b)
		}
		polys = [][][][2]float64{p}
	case "MultiPolygon":
		if err := json.Unmarshal(doc.Coordinates, &polys); err != nil {
			t.Fatalf("MultiPolygon coordinates: %v\n%s", err, b)
		}
		if len(polys) < 2 {
			t.Fatalf("MultiPolygon of %d polygons", len(polys))
		}
	default:
		t.Fatalf("type %q", doc.Type)
	}
	bb := g.BBox()
	for _, v := range bb {
		if !finite(v) {
			t.Fatalf("bbox %v", bb)
		}
	}
	if bb[1] > bb[3] || bb[1] < -90 || bb[3] > 90 || math.Abs(bb[0]) > 180 || math.Abs(bb[2]) > 180 {
		t.Fatalf("bbox %v", bb)
	}
	for _, p := range polys {
		if len(p) != 1 {
			t.Fatalf("%d rings", len(p))
		}
		r := p[0]
		if len(r) < 4 || r[0] != r[len(r)-1] {
			t.Fatalf("ring of %d not closed: %v", len(r), r)
		}
		for i, q := range r {
			if !finite(q[0]) || !finite(q[1]) || math.Abs(q[0]) > 180 || math.Abs(q[1]) > 90 {
				t.Fatalf("position %d %v", i, q)
			}
			if i > 0 && q == r[i-1] {
				t.Fatalf("repeated position %d %v", i, q)
			}
			if q[1] < bb[1] || q[1] > bb[3] {
				t.Fatalf("position %v outside bbox %v", q, bb)
			}
			inLon := q[0] >= bb[0] && q[0] <= bb[2]
			if bb[0] > bb[2] { // crosses the antimeridian
				inLon = q[0] >= bb[0] || q[0] <= bb[2]
			}
			if !inLon {
				t.Fatalf("position %v outside bbox %v", q, bb)
			}
		}
		if a := signedArea(r[:len(r)-1]); !(a > 0) {
			t.Fatalf("ring not counter-clockwise: area %v", a)
		}
		if i, j, ok := selfIntersection(r); ok {
			t.Fatalf("ring crosses itself: segments %d and %d of %d", i, j, len(r)-1)
		}
	}
}

// selfIntersection finds two non-adjacent ring segments that properly cross.
func selfIntersection(r [][2]float64) (int, int, bool) {
	orient := func(a, b, c [2]float64) float64 {
		return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
	}
	n := len(r) - 1
	for i := 0; i < n; i++ {
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue
			}
			a, b, c, d := r[i], r[i+1], r[j], r[j+1]
			if orient(a, b, c)*orient(a, b, d) < 0 && orient(c, d, a)*orient(c, d, b) < 0 {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

type polygonCase struct {
	LatDeg         float64      `json:"lat_deg"`
	LonDeg         float64      `json:"lon_deg"`
	SemiMajorM     float64      `json:"semi_major_m"`
	SemiMinorM     float64      `json:"semi_minor_m"`
	OrientationDeg float64      `json:"orientation_deg"`
	Vertices       int          `json:"vertices"`
	Ring           [][2]float64 `json:"ring"`
}

// Ensure that 100 km ellipse vertices lie within 1 mm of GeographicLib's
// direct solution (pyproj), both before rounding and as emitted.
func TestPolygon_Golden(t *testing.T) {
	raw, err := os.ReadFile("testdata/polygon_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var gold struct{ Cases []polygonCase }
	if err := json.Unmarshal(raw, &gold); err != nil {
		t.Fatal(err)
	}
	if len(gold.Cases) == 0 {
		t.Fatal("no golden cases")
	}
	worstRaw, worst := 0.0, 0.0
	for _, c := range gold.Cases {
		e := Ellipse{SemiMajorM: c.SemiMajorM, SemiMinorM: c.SemiMinorM, OrientationDeg: c.OrientationDeg}
		raw := ellipseRing(c.LatDeg, c.LonDeg, c.SemiMajorM, c.SemiMinorM, c.OrientationDeg, c.Vertices)
		g, err := Polygon(c.LatDeg, c.LonDeg, e, c.Vertices)
		if err != nil {
			t.Fatal(err)
		}
		checkGeometry(t, g)
		ps := g.Polygons()
		if len(ps) != 1 || len(ps[0][0]) != c.Vertices+1 {
			t.Fatalf("%+v: got %d polygons", e, len(ps))
		}
		ring := ps[0][0]
		for k, want := range c.Ring {
			gr := gapM(raw[k][1], raw[k][0], want[1], want[0])
			ge := gapM(ring[k][1], ring[k][0], want[1], want[0])
			worstRaw, worst = math.Max(worstRaw, gr), math.Max(worst, ge)
			if !(gr < 1e-5) || !(ge < 1e-3) {
				t.Errorf("%+v vertex %d: %v (emitted %v), want %v: %.3g / %.3g m", e, k, raw[k], ring[k], want, gr, ge)
			}
		}
	}
	t.Logf("worst vertex gap: %.3g m unrounded, %.3g m emitted", worstRaw, worst)
}

// Ensure the vertex count: n distinct positions plus the closing one.
func TestPolygon_Vertices(t *testing.T) {
	e := Ellipse{SemiMajorM: 500, SemiMinorM: 200, OrientationDeg: 10}
	for _, c := range []struct{ in, positions int }{{0, 65}, {64, 65}, {32, 33}, {4, 5}, {3, 4}, {MaxVertices, MaxVertices + 1}} {
		g, err := Polygon(45, 7, e, c.in)
		if err != nil {
			t.Fatal(err)
		}
		checkGeometry(t, g)
		if n := len(g.Polygons()[0][0]); n != c.positions || g.Type() != "Polygon" {
			t.Errorf("vertices %d: %s of %d positions, want %d", c.in, g.Type(), n, c.positions)
		}
	}
}

// Ensure that the major axis points where OrientationDeg says: vertex 0 is
// the major-axis end, at the azimuth of the orientation.
func TestPolygon_Orientation(t *testing.T) {
	for _, o := range []float64{0, 45, 90, 135} {
		g, err := Polygon(10, 20, Ellipse{SemiMajorM: 1000, SemiMinorM: 100, OrientationDeg: o}, 64)
		if err != nil {
			t.Fatal(err)
		}
		v := g.Polygons()[0][0][0]
		lat, lon := Direct(10, 20, o, 1000)
		if gap := gapM(v[1], v[0], lat, lon); gap > 1e-3 {
			t.Errorf("orientation %v: vertex 0 %v is %.3g m from the major-axis end", o, v, gap)
		}
	}
}

// Ensure the antimeridian split: two closed CCW polygons within ±180 that
// meet on the antimeridian at the same latitudes, and a bbox with west > east.
func TestPolygon_Antimeridian(t *testing.T) {
	for _, lon := range []float64{179.9, -179.9, 180, -180} {
		for _, e := range []Ellipse{
			{SemiMajorM: 50e3, SemiMinorM: 50e3},
			{SemiMajorM: 50e3, SemiMinorM: 20e3, OrientationDeg: 60},
		} {
			g, err := Polygon(50, lon, e, 64)
			if err != nil {
				t.Fatal(err)
			}
			checkGeometry(t, g)
			ps := g.Polygons()
			if g.Type() != "MultiPolygon" || len(ps) != 2 {
				t.Fatalf("lon %v %+v: %s of %d", lon, e, g.Type(), len(ps))
			}
			edge := map[float64][]float64{}
			for _, p := range ps {
				for _, q := range p[0] {
					if math.Abs(q[0]) == 180 {
						edge[q[0]] = append(edge[q[0]], q[1])
					}
				}
			}
			ee, w := edge[180], edge[-180]
			if len(ee) < 2 || len(w) < 2 {
				t.Fatalf("lon %v: edge positions east %v west %v", lon, ee, w)
			}
			if slicesMin(ee) != slicesMin(w) || slicesMax(ee) != slicesMax(w) {
				t.Errorf("lon %v: split latitudes differ: %v vs %v", lon, ee, w)
			}
			// The split latitudes lie where the ellipse itself crosses 180°:
			// found on a 20000-vertex ring, they may differ only by the
			// chord-vs-arc gap of 64-vertex edges (≈ 60 m here).
			want := crossings(ellipseRing(50, lon, e.SemiMajorM, e.SemiMinorM, e.OrientationDeg, 20000))
			if len(want) != 2 {
				t.Fatalf("lon %v: reference crossings %v", lon, want)
			}
			if math.Abs(slicesMin(ee)-slicesMin(want)) > 2e-3 || math.Abs(slicesMax(ee)-slicesMax(want)) > 2e-3 {
				t.Errorf("lon %v: split latitudes %v, ellipse crosses at %v", lon, ee, want)
			}
			bb := g.BBox()
			if !(bb[0] > bb[2]) || bb[0] < 179 || bb[2] > -179 {
				t.Errorf("lon %v: bbox %v", lon, bb)
			}
		}
	}
	// Well inside, no split.
	g, _ := Polygon(50, 179, Ellipse{SemiMajorM: 50e3, SemiMinorM: 50e3}, 64)
	if g.Type() != "Polygon" {
		t.Errorf("lon 179: %s", g.Type())
	}
}

// crossings is the latitudes where a ring of [lon, lat] crosses ±180°.
func crossings(r [][2]float64) []float64 {
	var out []float64
	for i := range r {
		p, q := r[i], r[(i+1)%len(r)]
		if (p[0] > 0) != (q[0] > 0) && math.Abs(p[0]-q[0]) > 180 {
			dp, dq := 180-math.Abs(p[0]), 180-math.Abs(q[0])
			out = append(out, p[1]+(q[1]-p[1])*dp/(dp+dq))
		}
	}
	return out
}

// Ensure that a ring passing close to a pole without holding it stays a
// simple polygon: its edges are bisected where lon/lat bends sharply.
func TestPolygon_NearPole(t *testing.T) {
	for _, c := range []struct {
		lat, orient, a, b float64
	}{
		{89.5, 1, 100e3, 500},  // passes ~0.5 km from the pole
		{89.5, 2, 100e3, 1500}, // ~0.4 km
		{-89.5, 179, 100e3, 500},
		{89.9, 10, 30e3, 1000},
	} {
		e := Ellipse{SemiMajorM: c.a, SemiMinorM: c.b, OrientationDeg: c.orient}
		g, err := Polygon(c.lat, 30, e, 64)
		if err != nil {
			t.Fatal(err)
		}
		checkGeometry(t, g)
		if g.BBox()[0] == -180 && g.BBox()[2] == 180 {
			t.Errorf("%+v: treated as holding the pole", c)
		}
		if n := len(g.Polygons()[0][0]); n <= 65 {
			t.Errorf("%+v: %d positions, expected bisection near the pole", c, n)
		}
	}
	// A 1860 km line (ρ = 1) passing 200 km from the south pole: at -84° its
	// two sides, 1.9 km apart, are crossed by plain lon/lat edges (found by
	// FuzzPolygon) unless edges are checked against the ideal chord.
	c, _ := FromSigmas(500000, 10312, 1)
	e, _ := Axes(c, 0.999)
	g, err := Polygon(-88, 151, e, 64)
	if err != nil {
		t.Fatal(err)
	}
	checkGeometry(t, g)
}

func slicesMin(x []float64) float64 {
	m := math.Inf(1)
	for _, v := range x {
		m = math.Min(m, v)
	}
	return m
}

func slicesMax(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	return m
}

// Ensure that an ellipse holding a pole is one valid polygon closed through
// the pole along ±180, with a bbox spanning every longitude.
func TestPolygon_Pole(t *testing.T) {
	for _, c := range []struct {
		lat, lon float64
		e        Ellipse
	}{
		{89.9, 10, Ellipse{SemiMajorM: 50e3, SemiMinorM: 50e3}},
		{89.9, -170, Ellipse{SemiMajorM: 50e3, SemiMinorM: 20e3, OrientationDeg: 30}},
		{-89.9, 45, Ellipse{SemiMajorM: 50e3, SemiMinorM: 50e3}},
		{90, 0, Ellipse{SemiMajorM: 1000, SemiMinorM: 500, OrientationDeg: 90}},
		{-90, 180, Ellipse{SemiMajorM: 1000, SemiMinorM: 500}},
		{80, 0, Ellipse{SemiMajorM: 2000e3, SemiMinorM: 1500e3, OrientationDeg: 10}},
		{-60, 100, Ellipse{SemiMajorM: 4000e3, SemiMinorM: 3500e3, OrientationDeg: 170}},
	} {
		g, err := Polygon(c.lat, c.lon, c.e, 64)
		if err != nil {
			t.Fatal(err)
		}
		checkGeometry(t, g)
		pole := math.Copysign(90, c.lat)
		bb := g.BBox()
		if bb[0] != -180 || bb[2] != 180 || (pole > 0 && bb[3] != 90) || (pole < 0 && bb[1] != -90) {
			t.Errorf("%+v: bbox %v", c, bb)
		}
		if g.Type() != "Polygon" {
			t.Errorf("%+v: %s", c, g.Type())
		}
		r := g.Polygons()[0][0]
		atPole := 0
		for _, q := range r {
			if q[1] == pole {
				atPole++
			}
		}
		if atPole != 2 {
			t.Errorf("%+v: %d positions at the pole, want 2", c, atPole)
		}
	}
	// Near but not holding the pole: an ordinary polygon.
	g, err := Polygon(89, 0, Ellipse{SemiMajorM: 50e3, SemiMinorM: 50e3}, 64)
	if err != nil || g.Type() != "Polygon" || g.BBox()[3] == 90 || g.BBox()[0] == -180 {
		t.Errorf("lat 89: %s %v %v", g.Type(), g.BBox(), err)
	}
}

// Ensure that σ = 0 gives the documented 0.1 m floor, not a collapsed ring.
func TestPolygon_Degenerate(t *testing.T) {
	c, _ := FromSigmas(0, 0, 0)
	e, err := Axes(c, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	for _, lat := range []float64{0, 45, -89.99, 90} {
		g, err := Polygon(lat, 7, e, 64)
		if err != nil {
			t.Fatalf("lat %v: %v", lat, err)
		}
		checkGeometry(t, g)
		if lat == 90 {
			continue
		}
		r := g.Polygons()[0][0]
		if len(r) != 65 {
			t.Fatalf("lat %v: %d positions", lat, len(r))
		}
		for _, q := range r {
			if d := gapM(lat, 7, q[1], q[0]); math.Abs(d-MinSemiAxisM) > 2e-4 {
				t.Fatalf("lat %v: vertex %v at %.5f m, want %v", lat, q, d, MinSemiAxisM)
			}
		}
	}
	// A line (ρ = 1) keeps its length and gets the floor across.
	c, _ = FromSigmas(100, 100, 1)
	e, _ = Axes(c, 0.95)
	g, err := Polygon(45, 7, e, 64)
	if err != nil {
		t.Fatal(err)
	}
	checkGeometry(t, g)
}

// Ensure that bad input is an error, never a panic or a partial geometry.
func TestPolygon_BadInput(t *testing.T) {
	ok := Ellipse{SemiMajorM: 10, SemiMinorM: 5}
	nan := math.NaN()
	for _, c := range []struct {
		lat, lon float64
		e        Ellipse
		n        int
		want     error
	}{
		{nan, 0, ok, 64, ErrCentre},
		{0, math.Inf(1), ok, 64, ErrCentre},
		{90.5, 0, ok, 64, ErrCentre},
		{0, 180.5, ok, 64, ErrCentre},
		{0, 0, Ellipse{SemiMajorM: nan}, 64, ErrEllipse},
		{0, 0, Ellipse{SemiMajorM: 1, SemiMinorM: -1}, 64, ErrEllipse},
		{0, 0, Ellipse{SemiMajorM: 1, OrientationDeg: math.Inf(-1)}, 64, ErrEllipse},
		{0, 0, Ellipse{SemiMajorM: 6e6}, 64, ErrTooLarge},
		{0, 0, ok, 2, ErrVertices},
		{0, 0, ok, -1, ErrVertices},
		{0, 0, ok, MaxVertices + 1, ErrVertices},
	} {
		g, err := Polygon(c.lat, c.lon, c.e, c.n)
		if !errors.Is(err, c.want) || g.Polygons() != nil {
			t.Errorf("%+v: err %v, want %v", c, err, c.want)
		}
	}
	// Swapped axes are the same ellipse turned by 90°.
	a, _ := Polygon(45, 7, Ellipse{SemiMajorM: 5, SemiMinorM: 10, OrientationDeg: 0}, 64)
	b, _ := Polygon(45, 7, Ellipse{SemiMajorM: 10, SemiMinorM: 5, OrientationDeg: 90}, 64)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("swapped axes differ:\n%s\n%s", ja, jb)
	}
}

// Ensure the GeoJSON shape and that Polygons and the JSON agree.
func TestGeometry_JSON(t *testing.T) {
	z, err := json.Marshal(Geometry{})
	if err != nil || string(z) != `{"type":"Polygon","coordinates":[]}` {
		t.Errorf("zero Geometry: %s %v", z, err)
	}
	g, err := Polygon(-33.9, 18.4, Ellipse{SemiMajorM: 120, SemiMinorM: 80, OrientationDeg: 20}, 8)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(g)
	if !strings.HasPrefix(string(b), `{"type":"Polygon","coordinates":[[[18.40`) {
		t.Errorf("JSON %s", b)
	}
	var doc struct{ Coordinates [][][2]float64 }
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Coordinates) != 1 {
		t.Fatal(err)
	}
	for i, q := range doc.Coordinates[0] {
		if q != g.Polygons()[0][0][i] {
			t.Errorf("position %d: JSON %v, Polygons %v", i, q, g.Polygons()[0][0][i])
		}
	}
	// As a struct field (how a Feature embeds it) it marshals the same way.
	f, _ := json.Marshal(struct {
		G Geometry `json:"geometry"`
	}{g})
	if !strings.Contains(string(f), string(b)) {
		t.Errorf("embedded: %s", f)
	}
	if RoundCoord(12.3456789012345) != 12.345678901 || RoundCoord(-179.99999999996) != -180 {
		t.Error("RoundCoord")
	}
}

// Ensure validity for random ellipses anywhere, of any size up to the
// limit: closed, CCW, simple, within range, matching bbox, valid JSON.
func TestPolygon_Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	n := 1500
	if testing.Short() {
		n = 200
	}
	caps, splits := 0, 0
	for i := range n {
		lat := rng.Float64()*180 - 90
		lon := rng.Float64()*360 - 180
		switch i % 4 { // bias towards the awkward places
		case 1:
			lat = math.Copysign(85+rng.Float64()*5, lat)
		case 2:
			lon = math.Copysign(178+rng.Float64()*2, lon)
		}
		a := math.Exp(rng.Float64() * math.Log(MaxSemiAxisM))
		e := Ellipse{SemiMajorM: a, SemiMinorM: a * rng.Float64(), OrientationDeg: rng.Float64() * 180}
		verts := []int{0, 3, 8, 64, 200}[rng.IntN(5)]
		g, err := Polygon(lat, lon, e, verts)
		if err != nil {
			t.Fatalf("(%v, %v) %+v: %v", lat, lon, e, err)
		}
		checkGeometry(t, g)
		switch {
		case g.BBox()[0] == -180 && g.BBox()[2] == 180 && math.Abs(g.BBox()[1]+g.BBox()[3]) > 0 &&
			(g.BBox()[3] == 90 || g.BBox()[1] == -90):
			caps++
		case g.Type() == "MultiPolygon":
			splits++
		}
		if verts == 0 {
			verts = DefaultVertices
		}
		small := a <= 20e3 && math.Abs(lat) <= 80 && verts >= 8
		if g.Type() == "Polygon" && small && len(g.Polygons()[0][0]) != verts+1 {
			t.Errorf("(%v, %v) %+v: %d positions for %d vertices", lat, lon, e, len(g.Polygons()[0][0]), verts)
		}
	}
	// The random mix must reach the awkward branches to mean anything.
	if caps < n/100 || splits < n/100 {
		t.Errorf("only %d pole caps and %d antimeridian splits in %d", caps, splits, n)
	}
	t.Logf("%d pole caps, %d antimeridian splits in %d", caps, splits, n)
}

func BenchmarkPolygon64(b *testing.B) {
	e := Ellipse{SemiMajorM: 244.8, SemiMinorM: 122.4, OrientationDeg: 30, Scale: 2.4477}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Polygon(48.1, 11.6, e, 64); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPolygon64JSON(b *testing.B) {
	g, _ := Polygon(48.1, 11.6, Ellipse{SemiMajorM: 244.8, SemiMinorM: 122.4, OrientationDeg: 30}, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(g); err != nil {
			b.Fatal(err)
		}
	}
}
