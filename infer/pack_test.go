package infer

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/heimdall/edged/dsp"
	"github.com/heimdall/edged/infer/geo"
)

// randomFeature is a fix as NewFeature makes it, anywhere on Earth (poles and the
// antimeridian included), from centimetres to continents.
func randomFeature(t testing.TB, rng *rand.Rand) Feature {
	t.Helper()
	lat := rng.Float64()*180 - 90
	switch rng.IntN(8) {
	case 0:
		lat = 90 - rng.Float64()*0.5 // around the north pole
	case 1:
		lat = -90 + rng.Float64()*0.5
	}
	lon := rng.Float64()*360 - 180
	if rng.IntN(4) == 0 {
		lon = 179.9 + rng.Float64()*0.1 // at the antimeridian
	}
	se := math.Pow(10, rng.Float64()*7-2)
	sn := math.Pow(10, rng.Float64()*7-2)
	cov, err := geo.FromSigmas(se, sn, rng.Float64()*1.8-0.9)
	if err != nil {
		t.Fatal(err)
	}
	r := Result{Estimate: Estimate{LatDeg: lat, LonDeg: lon, Cov: cov}, Model: &Model{Name: "m<&>", Version: "7"}}
	if rng.IntN(2) == 0 {
		r.Confidence, r.HasConfidence = rng.Float64(), true
	}
	w := Window{ReceiverID: "rx-\"pack\"", Time: time.Unix(1_700_000_000, rng.Int64N(1e18)).UTC(),
		CenterFreqHz: 433.92e6, SampleRateHz: 250e3, SampleOffset: rng.Uint64(), Seq: rng.Uint64N(1e9),
		Measure: dsp.Measure{SNRDB: rng.Float64() * 40, PSDDB: -rng.Float64() * 30, OffsetHz: rng.Float64() * 1e5}}
	f, err := NewFeature(w, r, FixOptions{ConfidenceLevel: 0.5 + rng.Float64()*0.49, Vertices: 8 + rng.IntN(120)})
	if err != nil {
		t.Fatalf("NewFeature(%+v): %v", r.Estimate, err)
	}
	return f
}

// Ensure a packed fix renders to exactly the bytes Marshal gave when it was computed, for
// Polygons and MultiPolygons, near the poles and across the antimeridian.
func TestUnpackGivesMarshalBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	multi := 0
	for i := range 3000 {
		f := randomFeature(t, rng)
		want, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		packed, err := f.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if len(packed)*3 > len(want) && f.Geometry.Type() == "Polygon" && f.shape.vertices >= 64 {
			t.Errorf("fix %d: packed %d bytes for a %d-byte fix; the ring should not be stored", i, len(packed), len(want))
		}
		got, err := Unpack(packed)
		if err != nil {
			t.Fatalf("fix %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("fix %d renders differently:\n got %s\nwant %s", i, got, want)
		}
		if f.Geometry.Type() == "MultiPolygon" {
			multi++
		}
	}
	if multi == 0 {
		t.Error("no fix crossed the antimeridian; the test does not cover MultiPolygons")
	}
}

// Ensure a Feature stored whole (by an earlier edged, or not made by NewFeature) passes
// through Unpack unchanged.
func TestUnpackPassesWholeFeatures(t *testing.T) {
	whole := []byte(`{"type":"Feature","id":"rx:1"}`)
	got, err := Unpack(whole)
	if err != nil || !bytes.Equal(got, whole) {
		t.Fatalf("Unpack(whole) = %s, %v", got, err)
	}
	f := Feature{Type: "Feature", ID: "hand-made"}
	packed, err := f.Pack()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.Marshal()
	if !bytes.Equal(packed, want) {
		t.Errorf("a hand-made Feature packs as %s, want its JSON %s", packed, want)
	}
}

// Ensure truncated or damaged packed fixes give ErrPacked, not a panic or a wrong fix.
func TestUnpackRejectsDamage(t *testing.T) {
	f := randomFeature(t, rand.New(rand.NewPCG(1, 2)))
	packed, err := f.Pack()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 20, 41, 42, 45, len(packed) - 1} {
		if _, err := Unpack(packed[:n]); !errors.Is(err, ErrPacked) {
			t.Errorf("Unpack of the first %d of %d bytes: %v, want ErrPacked", n, len(packed), err)
		}
	}
	bad := bytes.Clone(packed)
	copy(bad[1+16:], []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}) // semi-major NaN
	if _, err := Unpack(bad); !errors.Is(err, ErrPacked) {
		t.Errorf("Unpack with a NaN axis: %v, want ErrPacked", err)
	}
}
