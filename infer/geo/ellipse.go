package geo

import (
	"errors"
	"fmt"
	"math"
)

// These errors report input that has no ellipse; wrapped errors say which value.
var (
	// ErrNonFinite reports a NaN or infinite input.
	ErrNonFinite = errors.New("geo: non-finite value")
	// ErrNegative reports a negative σ or variance.
	ErrNegative = errors.New("geo: negative sigma or variance")
	// ErrNotPSD reports a covariance that is not positive semi-definite (|ρ| > 1).
	ErrNotPSD = errors.New("geo: covariance not positive semi-definite")
	// ErrConfidence reports a confidence level outside (0, 1).
	ErrConfidence = errors.New("geo: confidence level outside (0,1)")
)

// psdSlack is the relative tolerance on det ≥ 0, so that ρ = ±1 exactly
// (a degenerate, line-shaped ellipse) survives the rounding of ρ·σe·σn.
const psdSlack = 1e-12

// circleSlack is the relative eigenvalue gap below which Axes calls an ellipse a circle.
const circleSlack = 1e-12

// Cov is a horizontal position covariance in a local east/north frame.
type Cov struct {
	EastM2      float64 // variance along east, m²
	NorthM2     float64 // variance along north, m²
	EastNorthM2 float64 // east/north covariance, m²
}

// FromSigmas builds a Cov from standard deviations along east and north
// and their correlation coefficient rho in [-1, 1].
func FromSigmas(sigmaEastM, sigmaNorthM, rho float64) (Cov, error) {
	if !finite(sigmaEastM) || !finite(sigmaNorthM) || !finite(rho) {
		return Cov{}, fmt.Errorf("%w: σe=%g σn=%g ρ=%g", ErrNonFinite, sigmaEastM, sigmaNorthM, rho)
	}
	if sigmaEastM < 0 || sigmaNorthM < 0 {
		return Cov{}, fmt.Errorf("%w: σe=%g σn=%g", ErrNegative, sigmaEastM, sigmaNorthM)
	}
	if math.Abs(rho) > 1 {
		return Cov{}, fmt.Errorf("%w: ρ=%g", ErrNotPSD, rho)
	}
	c := Cov{EastM2: sigmaEastM * sigmaEastM, NorthM2: sigmaNorthM * sigmaNorthM,
		EastNorthM2: rho * sigmaEastM * sigmaNorthM}
	return c, c.Validate()
}

// FromSigmaTheta builds a Cov from the Heimdall serving form: sigmaXM and
// sigmaYM are standard deviations along the ellipse's own x and y axes, and
// thetaDeg turns that frame counter-clockwise from east/north, so θ = 0 means
// x = east, y = north and θ = 90 means x = north, y = west. Either σ may be
// the larger. Then C = R(θ)·diag(σx², σy²)·R(θ)ᵀ in (east, north).
func FromSigmaTheta(sigmaXM, sigmaYM, thetaDeg float64) (Cov, error) {
	if !finite(sigmaXM) || !finite(sigmaYM) || !finite(thetaDeg) {
		return Cov{}, fmt.Errorf("%w: σx=%g σy=%g θ=%g", ErrNonFinite, sigmaXM, sigmaYM, thetaDeg)
	}
	if sigmaXM < 0 || sigmaYM < 0 {
		return Cov{}, fmt.Errorf("%w: σx=%g σy=%g", ErrNegative, sigmaXM, sigmaYM)
	}
	s, c := sincosd(thetaDeg)
	vx, vy := sigmaXM*sigmaXM, sigmaYM*sigmaYM
	cv := Cov{
		EastM2:      vx*c*c + vy*s*s,
		NorthM2:     vx*s*s + vy*c*c,
		EastNorthM2: (vx - vy) * s * c,
	}
	return cv, cv.Validate()
}

// Validate reports whether c is a usable covariance: finite, non-negative
// variances and positive semi-definite (within a relative 1e-12).
func (c Cov) Validate() error {
	if !finite(c.EastM2) || !finite(c.NorthM2) || !finite(c.EastNorthM2) {
		return fmt.Errorf("%w: covariance %+v", ErrNonFinite, c)
	}
	if c.EastM2 < 0 || c.NorthM2 < 0 {
		return fmt.Errorf("%w: covariance %+v", ErrNegative, c)
	}
	// Compare |c_en| with √(c_ee·c_nn) rather than c_en² with the product,
	// which could overflow for finite but huge variances.
	if math.Abs(c.EastNorthM2) > math.Sqrt(c.EastM2)*math.Sqrt(c.NorthM2)*(1+psdSlack) {
		return fmt.Errorf("%w: covariance %+v", ErrNotPSD, c)
	}
	return nil
}

// Ellipse is a confidence ellipse: semi-axes already scaled to the confidence level.
type Ellipse struct {
	SemiMajorM     float64 // semi-major axis, metres, ≥ SemiMinorM
	SemiMinorM     float64 // semi-minor axis, metres, ≥ 0
	OrientationDeg float64 // major axis clockwise from true north, [0, 180); 0 for a circle
	Scale          float64 // k = √(−2 ln(1−p)) applied to the 1σ axes
}

// Scale is the exact χ²(2) factor k = √(−2 ln(1−p)) that turns a 1σ
// ellipse into the one holding probability p of a 2-D Gaussian.
func Scale(p float64) (float64, error) {
	if !(p > 0 && p < 1) { // also rejects NaN
		return 0, fmt.Errorf("%w: %g", ErrConfidence, p)
	}
	return math.Sqrt(-2 * math.Log1p(-p)), nil
}

// Axes is the ellipse of c at confidence level p in (0, 1): the square roots
// of the covariance's eigenvalues, scaled by Scale(p), and the direction of
// the major axis. Equal eigenvalues (a circle) give OrientationDeg 0.
func Axes(c Cov, p float64) (Ellipse, error) {
	k, err := Scale(p)
	if err != nil {
		return Ellipse{}, err
	}
	if err := c.Validate(); err != nil {
		return Ellipse{}, err
	}
	// Closed-form eigen-decomposition of [[E, C], [C, N]]: λ = m ± r. Halving
	// before adding keeps m and d finite for variances near MaxFloat64.
	m := c.EastM2/2 + c.NorthM2/2
	d := c.EastM2/2 - c.NorthM2/2
	r := math.Hypot(d, c.EastNorthM2)
	l1, l2 := m+r, math.Max(m-r, 0) // m−r < 0 only by rounding or psdSlack
	orient := 0.0
	// Eigenvalues equal to 1e-12 relative are a circle: the direction would
	// be rounding noise (e.g. FromSigmaTheta(50, 50, 30)), so it is 0.
	if r > m*circleSlack {
		// The major eigenvector is ½·atan2(2C, E−N) counter-clockwise from
		// east; clockwise from north that is 90° minus it, folded into [0, 180).
		ccwEastDeg := 0.5 * math.Atan2(c.EastNorthM2, d) * (180 / math.Pi)
		orient = math.Mod(90-ccwEastDeg, 180) // 90−ccw is in [0, 180]
		if orient >= 180 || orient < 0 {
			orient = 0
		}
	}
	e := Ellipse{
		SemiMajorM:     math.Sqrt(l1) * k,
		SemiMinorM:     math.Sqrt(l2) * k,
		OrientationDeg: orient,
		Scale:          k,
	}
	if !finite(e.SemiMajorM) {
		return Ellipse{}, fmt.Errorf("%w: axes overflow for %+v", ErrNonFinite, c)
	}
	return e, nil
}
