package geo

import "math"

// WGS84 ellipsoid and the derived quantities the geodesic series need. They
// are untyped constants so the derivations are evaluated exactly at compile
// time rather than rounded step by step.
const (
	wgs84A  = 6378137.0                     // equatorial radius a, metres
	wgs84F  = 1 / 298.257223563             // flattening f
	wgs84F1 = 1 - wgs84F                    // 1 − f
	wgs84E2 = wgs84F * (2 - wgs84F)         // first eccentricity squared e²
	wgs84P2 = wgs84E2 / (wgs84F1 * wgs84F1) // second eccentricity squared e'²
	wgs84N  = wgs84F / (2 - wgs84F)         // third flattening n
	wgs84B  = wgs84A * wgs84F1              // polar radius b, metres
)

// tiny keeps cos β away from zero at a pole, so azimuths there stay defined
// (as the limit approaching the pole along the meridian lon1), as GeographicLib does.
const tiny = 1.4916681462400413e-154 // √(smallest normal float64)

// Direct solves the direct geodesic problem on WGS84: the point reached
// from (latDeg, lonDeg) after distanceM metres along the geodesic that
// leaves at azimuthDeg (clockwise from true north).
//
// It follows Karney (2013), "Algorithms for geodesics", J. Geodesy 87:43–55,
// with the sixth-order series in the third flattening that GeographicLib
// uses, so it is accurate to a few nanometres for any distance and stays
// well behaved at and near the poles. At a pole the azimuth is taken as the
// limit approaching the pole along meridian lonDeg. lon2Deg is in [-180, 180).
// Non-finite input or |latDeg| > 90 gives NaN, NaN.
func Direct(latDeg, lonDeg, azimuthDeg, distanceM float64) (lat2Deg, lon2Deg float64) {
	if !finite(latDeg) || !finite(lonDeg) || !finite(azimuthDeg) || !finite(distanceM) ||
		math.Abs(latDeg) > 90 {
		return math.NaN(), math.NaN()
	}
	salp1, calp1 := sincosd(azimuthDeg)
	sphi, cphi := sincosd(latDeg)
	// Reduced latitude β: tan β = (1−f) tan φ.
	sbet1, cbet1 := norm2(wgs84F1*sphi, cphi)
	cbet1 = math.Max(tiny, cbet1)

	// α0 is the azimuth at the equator crossing (the geodesic's node).
	salp0 := salp1 * cbet1
	calp0 := math.Hypot(calp1, salp1*sbet1)

	// σ1 and ω1 are the arc length and longitude on the auxiliary sphere from
	// the node; ω1 is kept unnormalised since only ω2 − ω1 is used.
	ssig1, somg1 := sbet1, salp0*sbet1
	csig1 := 1.0
	if sbet1 != 0 || calp1 != 0 {
		csig1 = cbet1 * calp1
	}
	comg1 := csig1
	ssig1, csig1 = norm2(ssig1, csig1)

	k2 := calp0 * calp0 * wgs84P2
	eps := k2 / (2*(1+math.Sqrt(1+k2)) + k2)

	// Distance → arc length: s/(b·A1) = τ = σ + Σ C1l sin 2lσ (eq. 15),
	// inverted by σ = τ + Σ C1'l sin 2lτ (eq. 20).
	var c1, c1p [7]float64
	coeffC1(eps, &c1)
	coeffC1p(eps, &c1p)
	b11 := sinSeries(ssig1, csig1, c1[:])
	sb, cb := math.Sincos(b11)
	stau1, ctau1 := ssig1*cb+csig1*sb, csig1*cb-ssig1*sb
	tau12 := distanceM / (wgs84B * (1 + a1m1(eps)))
	st, ct := math.Sincos(tau12)
	stau2, ctau2 := stau1*ct+ctau1*st, ctau1*ct-stau1*st
	sig12 := tau12 + b11 + sinSeries(stau2, ctau2, c1p[:])

	ssig12, csig12 := math.Sincos(sig12)
	ssig2 := ssig1*csig12 + csig1*ssig12
	csig2 := csig1*csig12 - ssig1*ssig12
	sbet2 := calp0 * ssig2
	cbet2 := math.Hypot(salp0, calp0*csig2)
	if cbet2 == 0 {
		// The geodesic ends at a pole; keep λ defined (Karney's convention).
		cbet2, csig2 = tiny, tiny
	}
	somg2, comg2 := salp0*ssig2, csig2
	omg12 := math.Atan2(somg2*comg1-comg2*somg1, comg2*comg1+somg2*somg1)

	// Longitude on the ellipsoid: λ = ω − f sin α0 I3(σ) (eqs. 8, 23).
	var c3 [6]float64
	coeffC3(eps, &c3)
	i3 := sig12 + sinSeries(ssig2, csig2, c3[:]) - sinSeries(ssig1, csig1, c3[:])
	lam12 := omg12 - wgs84F*salp0*a3(eps)*i3

	lat2Deg = math.Atan2(sbet2, wgs84F1*cbet2) * (180 / math.Pi)
	lon2Deg = normLonDeg(normLonDeg(lonDeg) + normLonDeg(lam12*(180/math.Pi)))
	return lat2Deg, lon2Deg
}

// MetresPerDegree is the length of one degree of latitude (northM) and of
// longitude (eastM) at latDeg on WGS84, from the meridian radius of
// curvature M and the prime-vertical radius N: north = M·π/180,
// east = N·cos φ·π/180. It converts σ given in degrees to metres.
// Non-finite input or |latDeg| > 90 gives NaN, NaN.
func MetresPerDegree(latDeg float64) (northM, eastM float64) {
	if !finite(latDeg) || math.Abs(latDeg) > 90 {
		return math.NaN(), math.NaN()
	}
	s, c := sincosd(latDeg)
	w2 := 1 - wgs84E2*s*s
	w := math.Sqrt(w2)
	n := wgs84A / w
	m := wgs84A * (1 - wgs84E2) / (w2 * w)
	return m * math.Pi / 180, n * c * math.Pi / 180
}

// a1m1 is A1 − 1 (Karney eq. 17), the mean of the distance integrand.
func a1m1(eps float64) float64 {
	e2 := eps * eps
	t := e2 * (e2*(e2+4) + 64) / 256
	return (t + eps) / (1 - eps)
}

// coeffC1 fills c[1..6] with C1l (Karney eq. 18).
func coeffC1(eps float64, c *[7]float64) {
	e2 := eps * eps
	d := eps
	c[1] = d * (e2*(6-e2) - 16) / 32
	d *= eps
	c[2] = d * (e2*(64-9*e2) - 128) / 2048
	d *= eps
	c[3] = d * (9*e2 - 16) / 768
	d *= eps
	c[4] = d * (3*e2 - 5) / 512
	d *= eps
	c[5] = -7 * d / 1280
	d *= eps
	c[6] = -7 * d / 2048
}

// coeffC1p fills c[1..6] with C1'l (Karney eq. 21), the reversion of eq. 18.
func coeffC1p(eps float64, c *[7]float64) {
	e2 := eps * eps
	d := eps
	c[1] = d * (e2*(205*e2-432) + 768) / 1536
	d *= eps
	c[2] = d * (e2*(4005*e2-4736) + 3840) / 12288
	d *= eps
	c[3] = d * (116 - 225*e2) / 384
	d *= eps
	c[4] = d * (2695 - 7173*e2) / 7680
	d *= eps
	c[5] = 3467 * d / 7680
	d *= eps
	c[6] = 38081 * d / 61440
}

// a3 is A3 (Karney eq. 24) for WGS84's n, the mean of the longitude integrand.
func a3(eps float64) float64 {
	const (
		n  = wgs84N
		k1 = 1.0/2 - n/2
		k2 = 1.0/4 + n/8 - 3*n*n/8
		k3 = 1.0/16 + 3*n/16 + n*n/16
		k4 = 3.0/64 + n/32
		k5 = 3.0 / 128
	)
	return 1 - eps*(k1+eps*(k2+eps*(k3+eps*(k4+eps*k5))))
}

// coeffC3 fills c[1..5] with C3l (Karney eq. 25) for WGS84's n.
func coeffC3(eps float64, c *[6]float64) {
	const (
		n   = wgs84N
		c11 = 1.0/4 - n/4
		c12 = 1.0/8 - n*n/8
		c13 = 3.0/64 + 3*n/64 - n*n/64
		c14 = 5.0/128 + n/64
		c15 = 3.0 / 128
		c22 = 1.0/16 - 3*n/32 + n*n/32
		c23 = 3.0/64 - n/32 - 3*n*n/64
		c24 = 3.0/128 + n/128
		c25 = 5.0 / 256
		c33 = 5.0/192 - 3*n/64 + 5*n*n/192
		c34 = 3.0/128 - 5*n/192
		c35 = 7.0 / 512
		c44 = 7.0/512 - 7*n/256
		c45 = 7.0 / 512
		c55 = 21.0 / 2560
	)
	e := eps
	c[1] = e * (c11 + e*(c12+e*(c13+e*(c14+e*c15))))
	e *= eps
	c[2] = e * (c22 + e*(c23+e*(c24+e*c25)))
	e *= eps
	c[3] = e * (c33 + e*(c34+e*c35))
	e *= eps
	c[4] = e * (c44 + e*c45)
	e *= eps
	c[5] = e * c55
}

// sinSeries is Σ_{l≥1} c[l]·sin(2lx) given sin x and cos x, by Clenshaw
// summation, which needs one sin/cos pair instead of one per term.
func sinSeries(sinx, cosx float64, c []float64) float64 {
	ar := 2 * (cosx - sinx) * (cosx + sinx) // 2 cos 2x
	var y0, y1 float64
	for l := len(c) - 1; l >= 1; l-- {
		y0, y1 = ar*y0-y1+c[l], y0
	}
	return 2 * sinx * cosx * y0
}

// sincosd is sin and cos of an angle in degrees, reducing by whole quadrants
// first so that multiples of 90° give exact 0 and ±1 (cos 90° must be 0 for
// the pole cases, not 6e-17).
func sincosd(xDeg float64) (s, c float64) {
	r := math.Mod(xDeg, 360)
	q := math.Round(r / 90)
	r -= 90 * q
	s, c = math.Sincos(r * (math.Pi / 180))
	switch int(q) & 3 {
	case 1:
		s, c = c, -s
	case 2:
		s, c = -s, -c
	case 3:
		s, c = -c, s
	}
	return s + 0, c + 0 // +0 turns −0 into +0
}

// normLonDeg maps a longitude to [-180, 180).
func normLonDeg(x float64) float64 {
	x = math.Remainder(x, 360)
	if x >= 180 {
		x -= 360
	}
	return x
}

// norm2 scales (x, y) to unit length.
func norm2(x, y float64) (float64, float64) {
	r := math.Hypot(x, y)
	return x / r, y / r
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
