// Package geo is the pure maths behind a fix's uncertainty ellipse on WGS84:
// the direct geodesic problem, the ellipse of a 2×2 position covariance at a
// confidence level, and that ellipse as an RFC 7946 GeoJSON polygon.
//
// # Conventions
//
// Angles are degrees, lengths metres, and names carry the unit (_deg, _m).
// Azimuths and orientations are clockwise from true north. Positions in
// GeoJSON are [lon, lat]. Nothing here does I/O or keeps state.
//
// # Caveats
//
// Direct has no error result: non-finite input or a latitude outside
// [-90, 90] yields NaN, so callers validate first (Polygon does). Ellipses
// are limited to MaxSemiAxisM so that a ring can hold at most one pole.
package geo
