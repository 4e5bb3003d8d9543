package geo

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Limits of Polygon.
const (
	// DefaultVertices is the ring size Polygon uses when asked for 0 vertices.
	DefaultVertices = 64
	// MaxVertices bounds the ring size, and so the allocation, per polygon.
	MaxVertices = 4096
	// MinSemiAxisM is the floor Polygon applies to each semi-axis: a σ of 0
	// would make every vertex the centre, which is not a valid GeoJSON ring,
	// so a degenerate ellipse is drawn as a 10 cm one (still ~1000 rounding
	// steps of RoundCoord across).
	MinSemiAxisM = 0.1
	// MinAxisRatio floors the semi-minor axis at this fraction of the
	// semi-major: a line-shaped ellipse (|ρ| = 1) drawn 0.1 m wide and 100 km
	// long would be thinner than the error of straight lon/lat edges near a
	// pole, and its two sides could cross; at 1/1000 it still reads as a line.
	MinAxisRatio = 1e-3
	// MaxSemiAxisM bounds the semi-major axis (5000 km): a larger "fix" is
	// meaningless, and below it a ring can never hold both poles.
	MaxSemiAxisM = 5e6
)

// Errors of Polygon, wrapped with the offending value.
var (
	// ErrCentre reports a non-finite centre or one outside lat [-90,90], lon [-180,180].
	ErrCentre = errors.New("geo: bad centre")
	// ErrEllipse reports an ellipse with non-finite or negative fields.
	ErrEllipse = errors.New("geo: bad ellipse")
	// ErrTooLarge reports a semi-major axis above MaxSemiAxisM.
	ErrTooLarge = errors.New("geo: ellipse too large")
	// ErrVertices reports a vertex count outside [3, MaxVertices] (0 means DefaultVertices).
	ErrVertices = errors.New("geo: bad vertex count")
	// ErrDegenerate reports a ring that collapsed to nothing after rounding.
	ErrDegenerate = errors.New("geo: degenerate polygon")
)

// RoundCoord rounds a coordinate in degrees to 1e-9° (about 0.1 mm), which
// keeps the JSON short without losing anything a fix can resolve.
func RoundCoord(xDeg float64) float64 { return math.Round(xDeg*1e9) / 1e9 }

// Geometry is an RFC 7946 Polygon or MultiPolygon with exterior rings only.
// The zero value marshals as an empty Polygon.
type Geometry struct {
	polys [][][][2]float64 // polygon → ring → [lon, lat] position
	bbox  [4]float64
}

// Type is "Polygon" for one polygon and "MultiPolygon" for several.
func (g Geometry) Type() string {
	if len(g.polys) > 1 {
		return "MultiPolygon"
	}
	return "Polygon"
}

// Polygons is every polygon's rings of [lon, lat] positions; callers must not modify it.
func (g Geometry) Polygons() [][][][2]float64 { return g.polys }

// BBox is [west, south, east, north] in degrees; west > east when the
// shape crosses the antimeridian (RFC 7946 §5.2), and a polar cap spans
// west -180 to east 180.
func (g Geometry) BBox() [4]float64 { return g.bbox }

// MarshalJSON writes {"type":…,"coordinates":…}. Coordinates are written
// by hand because encoding/json would reflect over every position.
func (g Geometry) MarshalJSON() ([]byte, error) {
	n := 40
	for _, p := range g.polys {
		for _, r := range p {
			n += 28 * len(r)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, `{"type":"`...)
	b = append(b, g.Type()...)
	b = append(b, `","coordinates":`...)
	if len(g.polys) > 1 {
		b = append(b, '[')
		for i, p := range g.polys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendRings(b, p)
		}
		b = append(b, ']')
	} else if len(g.polys) == 1 {
		b = appendRings(b, g.polys[0])
	} else {
		b = append(b, "[]"...)
	}
	return append(b, '}'), nil
}

func appendRings(b []byte, rings [][][2]float64) []byte {
	b = append(b, '[')
	for i, r := range rings {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, p := range r {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = strconv.AppendFloat(b, p[0], 'f', -1, 64)
			b = append(b, ',')
			b = strconv.AppendFloat(b, p[1], 'f', -1, 64)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// Polygon draws e around (latDeg, lonDeg) as a GeoJSON polygon with
// vertices distinct positions plus the closing one (0 means DefaultVertices).
//
// Vertex k is the point at parametric angle t = 2πk/n, x = a·cos t along the
// major axis and y = b·sin t along the minor axis (the major axis turned 90°
// counter-clockwise), placed geodesically: its tangent-plane distance and
// azimuth from the centre go to Direct. Where a straight lon/lat edge would
// stray from the ellipse (near a pole, or over 5° of longitude) vertices are
// bisected in so that no edge cuts across the ring; a fix of a few km away
// from the poles has exactly vertices+1 positions.
//
// The ring is counter-clockwise and closed, with coordinates rounded by
// RoundCoord. A ring crossing ±180° is split there into a MultiPolygon; a
// ring around a pole is closed through the pole along ±180° edges.
// Semi-axes below MinSemiAxisM are raised to it, and the semi-minor axis to
// at least MinAxisRatio of the semi-major, so σ = 0 gives a 0.1 m circle.
func Polygon(latDeg, lonDeg float64, e Ellipse, vertices int) (Geometry, error) {
	if !finite(latDeg) || !finite(lonDeg) || math.Abs(latDeg) > 90 || math.Abs(lonDeg) > 180 {
		return Geometry{}, fmt.Errorf("%w: lat %g lon %g", ErrCentre, latDeg, lonDeg)
	}
	if vertices == 0 {
		vertices = DefaultVertices
	}
	if vertices < 3 || vertices > MaxVertices {
		return Geometry{}, fmt.Errorf("%w: %d", ErrVertices, vertices)
	}
	a, b, orient := e.SemiMajorM, e.SemiMinorM, e.OrientationDeg
	if !finite(a) || !finite(b) || !finite(orient) || a < 0 || b < 0 {
		return Geometry{}, fmt.Errorf("%w: %+v", ErrEllipse, e)
	}
	if b > a {
		// Accept swapped axes rather than fail: it is the same ellipse.
		a, b, orient = b, a, orient+90
	}
	if a > MaxSemiAxisM {
		return Geometry{}, fmt.Errorf("%w: semi-major %g m > %g m", ErrTooLarge, a, float64(MaxSemiAxisM))
	}
	a = math.Max(a, MinSemiAxisM)
	b = math.Max(b, math.Max(MinSemiAxisM, a*MinAxisRatio))

	pts := ellipseRing(latDeg, lonDeg, a, b, orient, vertices)
	wind := unwrap(pts)
	var poly [][2]float64
	pole := 0 // +1 north pole inside, −1 south
	if wind == 0 {
		poly = pts
		if signedArea(poly) < 0 { // cannot happen for a CCW parametrisation; kept as a guard
			reverse(poly)
		}
	} else {
		// A CCW ring seen from outside goes east around the north pole and
		// west around the south pole.
		pole = 1
		if wind < 0 {
			pole = -1
		}
		poly = capPolygon(pts, wind, pole)
	}

	minU, maxU := lonRange(poly)
	var pieces [][][2]float64
	if minU >= -180 && maxU <= 180 {
		pieces = [][][2]float64{poly}
	} else {
		// Cut the unwrapped shape into 360°-wide strips and shift each back.
		for m := math.Floor((minU + 180) / 360); m <= math.Floor((maxU+180)/360); m++ {
			lo, hi := -180+360*m, 180+360*m
			piece := clipX(clipX(poly, lo, true), hi, false)
			for i := range piece {
				piece[i][0] -= 360 * m
			}
			pieces = append(pieces, piece)
		}
	}

	var g Geometry
	for _, p := range pieces {
		if r := finishRing(p); r != nil {
			g.polys = append(g.polys, [][][2]float64{r})
		}
	}
	if len(g.polys) == 0 {
		return Geometry{}, fmt.Errorf("%w: at lat %g lon %g, %+v", ErrDegenerate, latDeg, lonDeg, e)
	}
	g.bbox = bbox(g.polys, minU, maxU, pole)
	return g, nil
}

// The vertices are exact, but the edges between them are straight in
// lon/lat, and the lon/lat map bends the ground near a pole and over large
// distances: an edge of a thin ellipse there can stray across the ring's
// other side. The ideal edge is the chord of the ellipse in the tangent
// plane, carried to the ground by the same geodesic map as the vertices
// (that ring is simple); an edge is bisected in t while
//   - it spans more than maxLonStepDeg of longitude, or
//   - its lon/lat midpoint lies more than a tenth of the (floored) minor
//     axis, on the ground, from the ideal edge's midpoint.
//
// The second test costs a Direct per edge, so it is skipped when a bound on
// the bending, L²·(1+|tan φ|)/a for an edge of ground length L, is far below
// the tolerance: a fix of a few km away from the poles gets no extra work.
const (
	maxLonStepDeg = 5
	maxRingPoints = 4 * MaxVertices // cap after bisection, whatever the input
	maxBisections = 40              // depth cap per edge
)

// ring evaluates the ellipse's vertices for one Polygon call.
type ring struct {
	latDeg, lonDeg float64 // centre
	a, b           float64 // semi-axes, metres
	me, mn         float64 // major axis unit vector (east, north)
	tolM           float64 // edge midpoint tolerance, metres
	limit          int     // most positions after bisection
}

// plane is the point at parametric angle t in the tangent plane (east, north).
func (r *ring) plane(t float64) (eastM, northM float64) {
	st, ct := math.Sincos(t)
	u, v := r.a*ct, r.b*st
	return u*r.me - v*r.mn, u*r.mn + v*r.me
}

// ground carries a tangent-plane point to [lon, lat] along the geodesic with
// its distance and azimuth from the centre.
func (r *ring) ground(eastM, northM float64) [2]float64 {
	az := math.Atan2(eastM, northM) * (180 / math.Pi)
	lat, lon := Direct(r.latDeg, r.lonDeg, az, math.Hypot(eastM, northM))
	return [2]float64{lon, lat}
}

func (r *ring) at(t float64) [2]float64 { return r.ground(r.plane(t)) }

// ellipseRing is the ring as [lon, lat], lon in [-180, 180): the n vertices
// at t = 2πk/n, plus bisection points where edges would stray (see above).
func ellipseRing(latDeg, lonDeg, a, b, orientDeg float64, n int) [][2]float64 {
	me, mn := sincosd(orientDeg)
	r := ring{latDeg: latDeg, lonDeg: lonDeg, a: a, b: b, me: me, mn: mn,
		tolM: 0.1 * b, limit: min(max(16*n, 2048), maxRingPoints)}
	dt := 2 * math.Pi / float64(n)
	pts := make([][2]float64, 0, n)
	first := r.at(0)
	p := first
	for k := range n {
		pts = append(pts, p)
		q := first
		if k+1 < n {
			q = r.at(float64(k+1) * dt)
		}
		pts = r.bisect(pts, float64(k)*dt, float64(k+1)*dt, p, q, 0)
		p = q
	}
	return pts
}

// bisect appends, in order, the points strictly between p = at(t0) and
// q = at(t1) that the edge p–q needs.
func (r *ring) bisect(pts [][2]float64, t0, t1 float64, p, q [2]float64, depth int) [][2]float64 {
	if depth >= maxBisections || len(pts) >= r.limit {
		return pts
	}
	dq := math.Remainder(q[0]-p[0], 360)
	split := math.Abs(dq) > maxLonStepDeg
	if !split {
		// a·(t1−t0) bounds the edge's length (the ellipse's speed is ≤ a).
		l := r.a * (t1 - t0)
		tanPhi := math.Abs(math.Tan(math.Min(math.Max(math.Abs(p[1]), math.Abs(q[1])), 89.9999) * math.Pi / 180))
		if l*l*(1+tanPhi)/wgs84A > 0.05*r.tolM {
			e0, n0 := r.plane(t0)
			e1, n1 := r.plane(t1)
			ideal := r.ground((e0+e1)/2, (n0+n1)/2)
			northM, eastM := MetresPerDegree(ideal[1])
			dLon := math.Remainder(p[0]+dq/2-ideal[0], 360)
			dLat := (p[1]+q[1])/2 - ideal[1]
			split = math.Hypot(dLat*northM, dLon*eastM) > r.tolM
		}
	}
	if !split {
		return pts
	}
	tm := (t0 + t1) / 2
	m := r.at(tm)
	pts = r.bisect(pts, t0, tm, p, m, depth+1)
	pts = append(pts, m)
	return r.bisect(pts, tm, t1, m, q, depth+1)
}

// unwrap makes longitudes continuous along the ring (each step taken the
// short way round) and returns the ring's net longitude change, a multiple
// of 360: 0 unless the ring goes round a pole.
func unwrap(pts [][2]float64) float64 {
	n := len(pts)
	first, prev := pts[0][0], pts[0][0]
	for i := 1; i < n; i++ {
		orig := pts[i][0]
		pts[i][0] = pts[i-1][0] + math.Remainder(orig-prev, 360)
		prev = orig
	}
	end := pts[n-1][0] + math.Remainder(first-prev, 360)
	return 360 * math.Round((end-first)/360)
}

// capPolygon turns an unwrapped ring around a pole (net change wind) into a
// polygon in [-180, 180]: it starts the ring where it crosses the
// antimeridian, then closes it along ±180° and the pole's latitude, as RFC
// 7946 suggests. pole is +1 (north, wind > 0) or −1 (south, wind < 0).
func capPolygon(pts [][2]float64, wind float64, pole int) [][2]float64 {
	n := len(pts)
	at := func(i int) [2]float64 { // the ring continued past its end
		if i < n {
			return pts[i]
		}
		p := pts[i-n]
		return [2]float64{p[0] + wind, p[1]}
	}
	strip := func(x float64) float64 { return math.Floor((x + 180) / 360) }
	cut := 0
	var cross [2]float64
	for i := 0; i < n; i++ {
		p, q := at(i), at(i+1)
		if sp, sq := strip(p[0]), strip(q[0]); sp != sq {
			bx := -180 + 360*math.Max(sp, sq)
			t := (bx - p[0]) / (q[0] - p[0])
			cross = [2]float64{bx, p[1] + t*(q[1]-p[1])}
			cut = i + 1
			break
		}
	}
	if cut == 0 {
		// Unreachable (a ring spanning 360° crosses a strip edge); starting
		// at vertex 0 still gives a closed polygon that clipping splits.
		cross = pts[0]
	}
	shift := -180 - cross[0] // north: start at -180, run east to 180
	poleLat := 90.0
	if pole < 0 {
		shift, poleLat = 180-cross[0], -90 // south: start at 180, run west to -180
	}
	out := make([][2]float64, 0, n+4)
	out = append(out, [2]float64{cross[0] + shift, cross[1]})
	for i := cut; i < cut+n; i++ {
		p := at(i)
		out = append(out, [2]float64{p[0] + shift, p[1]})
	}
	end := cross[0] + wind + shift
	out = append(out, [2]float64{end, cross[1]}, [2]float64{end, poleLat},
		[2]float64{cross[0] + shift, poleLat})
	return out
}

// clipX is one Sutherland–Hodgman pass: the part of the closed polygon in
// with x ≥ x0 (keepAbove) or x ≤ x0, crossing points interpolated linearly.
func clipX(in [][2]float64, x0 float64, keepAbove bool) [][2]float64 {
	inside := func(p [2]float64) bool {
		if keepAbove {
			return p[0] >= x0
		}
		return p[0] <= x0
	}
	var out [][2]float64
	for i, cur := range in {
		prev := in[(i+len(in)-1)%len(in)]
		ci, pi := inside(cur), inside(prev)
		if ci != pi {
			t := (x0 - prev[0]) / (cur[0] - prev[0])
			out = append(out, [2]float64{x0, prev[1] + t*(cur[1]-prev[1])})
		}
		if ci {
			out = append(out, cur)
		}
	}
	return out
}

// finishRing rounds an open ring, drops repeated positions, makes it
// counter-clockwise and closes it; nil if fewer than 3 distinct positions
// or no area remain.
func finishRing(p [][2]float64) [][2]float64 {
	r := make([][2]float64, 0, len(p)+1)
	for _, q := range p {
		q = [2]float64{RoundCoord(q[0]), RoundCoord(q[1])}
		if len(r) > 0 && r[len(r)-1] == q {
			continue
		}
		r = append(r, q)
	}
	for len(r) > 1 && r[len(r)-1] == r[0] {
		r = r[:len(r)-1]
	}
	if len(r) < 3 {
		return nil
	}
	a := signedArea(r)
	if a == 0 {
		return nil
	}
	if a < 0 {
		reverse(r)
	}
	return append(r, r[0])
}

// signedArea is the shoelace area of an open ring in degrees², positive
// when counter-clockwise; coordinates are taken relative to the first
// position so that large longitudes do not cancel small areas.
func signedArea(r [][2]float64) float64 {
	x0, y0 := r[0][0], r[0][1]
	var s float64
	for i := range r {
		j := (i + 1) % len(r)
		s += (r[i][0]-x0)*(r[j][1]-y0) - (r[j][0]-x0)*(r[i][1]-y0)
	}
	return s / 2
}

func reverse(r [][2]float64) {
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
}

func lonRange(r [][2]float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range r {
		lo, hi = math.Min(lo, p[0]), math.Max(hi, p[0])
	}
	return lo, hi
}

// bbox is [west, south, east, north]. Split shapes take west and east from
// the unwrapped range (minU, maxU), so west > east across the antimeridian.
func bbox(polys [][][][2]float64, minU, maxU float64, pole int) [4]float64 {
	w, s, e, n := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range polys {
		for _, q := range p[0] {
			w, e = math.Min(w, q[0]), math.Max(e, q[0])
			s, n = math.Min(s, q[1]), math.Max(n, q[1])
		}
	}
	switch {
	case pole != 0:
		w, e = -180, 180
	case len(polys) > 1:
		w = RoundCoord(minU - 360*math.Floor((minU+180)/360)) // into [-180, 180)
		e = RoundCoord(maxU - 360*math.Ceil((maxU-180)/360))  // into (-180, 180]
	}
	return [4]float64{w, s, e, n}
}
