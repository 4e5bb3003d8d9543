package geo

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

type directCase struct {
	LatDeg, LonDeg, AzimuthDeg, DistanceM, Lat2Deg, Lon2Deg float64
}

func (c *directCase) UnmarshalJSON(b []byte) error {
	var m map[string]float64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*c = directCase{m["lat_deg"], m["lon_deg"], m["azimuth_deg"], m["distance_m"], m["lat2_deg"], m["lon2_deg"]}
	return nil
}

// gapM is the ground distance between two nearby positions, using the
// metres per degree at their mean latitude (fine below a few km).
func gapM(lat1, lon1, lat2, lon2 float64) float64 {
	north, east := MetresPerDegree((lat1 + lat2) / 2)
	return math.Hypot((lat2-lat1)*north, math.Remainder(lon2-lon1, 360)*east)
}

// Ensure that Direct matches GeographicLib (through pyproj) to 10 µm from
// 1 m to 5000 km, at every latitude including the poles.
func TestDirect_Golden(t *testing.T) {
	raw, err := os.ReadFile("testdata/direct_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct{ Cases []directCase }
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 500 {
		t.Fatalf("only %d golden cases", len(g.Cases))
	}
	worst, worst1000 := 0.0, 0.0
	for _, c := range g.Cases {
		lat2, lon2 := Direct(c.LatDeg, c.LonDeg, c.AzimuthDeg, c.DistanceM)
		if lon2 < -180 || lon2 >= 180 {
			t.Errorf("%+v: lon2 %v outside [-180,180)", c, lon2)
		}
		gap := gapM(lat2, lon2, c.Lat2Deg, c.Lon2Deg)
		worst = math.Max(worst, gap)
		if c.DistanceM <= 1e6 {
			worst1000 = math.Max(worst1000, gap)
		}
		if !(gap < 1e-5) {
			t.Errorf("%+v: got (%.12f, %.12f), %.3g m off", c, lat2, lon2, gap)
		}
	}
	t.Logf("worst gap to GeographicLib over %d cases: %.3g m (%.3g m up to 1000 km)", len(g.Cases), worst, worst1000)
}

// Ensure that zero distance stays put and that the equator is a geodesic
// measured by a: checks that do not depend on the goldens.
func TestDirect_ZeroAndEquator(t *testing.T) {
	for _, lat := range []float64{-90, -45, 0, 33.3, 89.9, 90} {
		lat2, lon2 := Direct(lat, 12.5, 77, 0)
		if lat2 != lat && math.Abs(lat2-lat) > 1e-12 || (math.Abs(lat) < 90 && math.Abs(lon2-12.5) > 1e-12) {
			t.Errorf("zero distance from (%v, 12.5) moved to (%v, %v)", lat, lat2, lon2)
		}
	}
	// Along the equator the geodesic is the equator itself: 1° = a·π/180.
	lat2, lon2 := Direct(0, 179.5, 90, wgs84A*math.Pi/180)
	if lat2 != 0 || math.Abs(lon2-(-179.5)) > 1e-9 {
		t.Errorf("east along the equator across 180: (%v, %v)", lat2, lon2)
	}
}

// Ensure that bad input gives NaN rather than a wrong position or a panic.
func TestDirect_BadInput(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, in := range [][4]float64{
		{nan, 0, 0, 1}, {0, nan, 0, 1}, {0, 0, nan, 1}, {0, 0, 0, nan},
		{inf, 0, 0, 1}, {0, 0, 0, -inf}, {90.0001, 0, 0, 1}, {-91, 0, 0, 1},
	} {
		lat, lon := Direct(in[0], in[1], in[2], in[3])
		if !math.IsNaN(lat) || !math.IsNaN(lon) {
			t.Errorf("Direct%v = (%v, %v), want NaN", in, lat, lon)
		}
	}
}

// Ensure that MetresPerDegree agrees with textbook WGS84 values and with
// short steps of Direct (an independent route to M and N).
func TestMetresPerDegree(t *testing.T) {
	for _, c := range []struct{ lat, north, east float64 }{
		// Equator: M = a(1−e²), N = a; poles: M = N = a²/b.
		{0, wgs84A * (1 - wgs84E2) * math.Pi / 180, wgs84A * math.Pi / 180},
		{90, wgs84A * wgs84A / wgs84B * math.Pi / 180, 0},
		{-90, wgs84A * wgs84A / wgs84B * math.Pi / 180, 0},
		{0, 110574.2758, 111319.4908}, // the rounded figures of the literature
	} {
		n, e := MetresPerDegree(c.lat)
		if math.Abs(n-c.north) > 1e-3 || math.Abs(e-c.east) > 1e-3 {
			t.Errorf("lat %v: (%v, %v) want (%v, %v)", c.lat, n, e, c.north, c.east)
		}
	}
	for _, lat := range []float64{-80, -45, -10, 0, 20, 45, 60, 85} {
		n, e := MetresPerDegree(lat)
		lat2, _ := Direct(lat, 0, 0, 1)
		_, lon2 := Direct(lat, 0, 90, 1)
		if got := 1 / (lat2 - lat); math.Abs(got-n)/n > 1e-6 {
			t.Errorf("lat %v: north %v, Direct says %v", lat, n, got)
		}
		if got := 1 / lon2; math.Abs(got-e)/e > 1e-6 {
			t.Errorf("lat %v: east %v, Direct says %v", lat, e, got)
		}
	}
	if n, e := MetresPerDegree(math.NaN()); !math.IsNaN(n) || !math.IsNaN(e) {
		t.Errorf("NaN latitude gave (%v, %v)", n, e)
	}
	if n, _ := MetresPerDegree(91); !math.IsNaN(n) {
		t.Errorf("latitude 91 gave %v", n)
	}
}

// Ensure that sincosd is exact on quadrant boundaries, where the pole
// handling depends on cos 90° being 0.
func TestSincosd(t *testing.T) {
	for _, c := range []struct{ x, s, c float64 }{
		{0, 0, 1}, {90, 1, 0}, {180, 0, -1}, {270, -1, 0}, {-90, -1, 0}, {450, 1, 0}, {-180, 0, -1},
	} {
		s, co := sincosd(c.x)
		if s != c.s || co != c.c {
			t.Errorf("sincosd(%v) = (%v, %v), want (%v, %v)", c.x, s, co, c.s, c.c)
		}
	}
	for x := -720.0; x <= 720; x += 7.3 {
		s, c := sincosd(x)
		ws, wc := math.Sincos(x * math.Pi / 180)
		if math.Abs(s-ws) > 1e-13 || math.Abs(c-wc) > 1e-13 {
			t.Errorf("sincosd(%v) = (%v, %v), want (%v, %v)", x, s, c, ws, wc)
		}
	}
}

func BenchmarkDirect(b *testing.B) {
	for b.Loop() {
		Direct(45, 7, 33, 100e3)
	}
}
