// Package geo is the pure maths behind a fix's uncertainty ellipse on WGS84:
// the direct geodesic problem, the ellipse of a 2×2 position covariance at a
// confidence level, and that ellipse as an RFC 7946 GeoJSON polygon.
//
// # Conventions
//
// Angles are degrees, lengths metres, and names carry the unit (_deg, _m).
// Azimuths and orientations are clockwise from true north; an ellipse's
// orientation is that of its major axis, in [0, 180), and 0 for a circle.
// Positions in GeoJSON are [lon, lat]. Nothing here does I/O or keeps state.
//
// # Differences from the seed service
//
// The seed (Heimdall's services/inference/src/utils/uncertainty.py,
// https://github.com/fulgidus/heimdall/tree/c2be497) stepped k to 2.45/2.15/1.0, returned
// NaN for NaN input, accepted non-PSD covariances, reported rotation
// counter-clockwise from east with a LAPACK-dependent sign, and drew rings
// 57× too small on a sphere. Here k = √(−2 ln(1−p)) exactly, bad input is an
// error, and vertices are placed on WGS84 by Direct.
//
// # Caveats
//
// Direct has no error result: non-finite input or a latitude outside
// [-90, 90] yields NaN, so callers validate first (Polygon does). Ellipses
// are limited to MaxSemiAxisM so that a ring can hold at most one pole.
// Polygon edges are straight in lon/lat; to keep them on the ellipse near the
// poles and over large distances, Polygon bisects edges there (so such rings
// have more than vertices+1 positions) and floors the minor axis at
// MinAxisRatio of the major. Antimeridian and pole crossings are interpolated
// linearly in lon/lat between neighbouring vertices.
package geo
