package infer

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/heimdall/edged/dsp"
	"github.com/heimdall/edged/infer/geo"
)

// FixOptions shape the ellipse of every fix.
type FixOptions struct {
	// ConfidenceLevel is the probability mass inside the ellipse, in (0,1). Default 0.95.
	ConfidenceLevel float64
	// Vertices of the ellipse ring, closing point excluded. Default 64.
	Vertices int
}

// Window says where a fix's window sits in its stream.
type Window struct {
	ReceiverID   string
	Time         time.Time // of the window's first sample
	CenterFreqHz float64
	SampleRateHz float64 // of the capture, not of the model
	SampleOffset uint64  // of the window's first sample, at the capture rate
	Seq          uint64  // the window's index in its stream
	Measure      dsp.Measure
}

// ID is the fix's identity: the same window always gets the same ID, so consumers can drop
// redelivered duplicates.
func (w Window) ID() string { return fmt.Sprintf("%s:%d", w.ReceiverID, w.SampleOffset) }

// Feature is a fix as GeoJSON (RFC 7946).
type Feature struct {
	Type       string       `json:"type"`
	ID         string       `json:"id"`
	BBox       [4]float64   `json:"bbox"`
	Geometry   geo.Geometry `json:"geometry"`
	Properties Properties   `json:"properties"`

	shape shape // what Geometry was drawn from, for Pack
}

// Properties are a fix's fields: the GeoJSON Feature's properties consumers read.
type Properties struct {
	ReceiverID      string   `json:"receiver_id"`
	Time            string   `json:"time"`
	CenterFreqHz    float64  `json:"center_freq_hz"`
	SampleRateHz    float64  `json:"sample_rate_hz"`
	SampleOffset    uint64   `json:"sample_offset"`
	SNRDB           float64  `json:"snr_db"`
	PSDDB           float64  `json:"psd_db"`
	OffsetHz        float64  `json:"offset_hz"`
	Lat             float64  `json:"lat"`
	Lon             float64  `json:"lon"`
	SigmaEastM      float64  `json:"sigma_east_m"`
	SigmaNorthM     float64  `json:"sigma_north_m"`
	Rho             float64  `json:"rho"`
	SemiMajorM      float64  `json:"semi_major_m"`
	SemiMinorM      float64  `json:"semi_minor_m"`
	OrientationDeg  float64  `json:"orientation_deg"`
	ConfidenceLevel float64  `json:"confidence_level"`
	ModelConfidence *float64 `json:"model_confidence"`
	Model           string   `json:"model"`
	ModelVersion    string   `json:"model_version"`
	Seq             uint64   `json:"seq"`
}

// NewFeature builds the fix for one window's estimate.
func NewFeature(w Window, r Result, opts FixOptions) (Feature, error) {
	p := opts.ConfidenceLevel
	if p == 0 {
		p = 0.95
	}
	n := opts.Vertices
	if n == 0 {
		n = 64
	}
	ell, err := geo.Axes(r.Cov, p)
	if err != nil {
		return Feature{}, fmt.Errorf("ellipse: %w", err)
	}
	g, err := geo.Polygon(r.LatDeg, r.LonDeg, ell, n)
	if err != nil {
		return Feature{}, fmt.Errorf("ellipse polygon: %w", err)
	}
	se, sn := math.Sqrt(r.Cov.EastM2), math.Sqrt(r.Cov.NorthM2)
	rho := 0.0
	if se > 0 && sn > 0 {
		rho = r.Cov.EastNorthM2 / (se * sn)
	}
	var mc *float64
	if r.HasConfidence {
		c := r.Confidence
		mc = &c
	}
	return Feature{
		Type:     "Feature",
		ID:       w.ID(),
		BBox:     g.BBox(),
		Geometry: g,
		shape:    shape{latDeg: r.LatDeg, lonDeg: r.LonDeg, ell: ell, vertices: n},
		Properties: Properties{
			ReceiverID:      w.ReceiverID,
			Time:            w.Time.UTC().Format(time.RFC3339Nano),
			CenterFreqHz:    w.CenterFreqHz,
			SampleRateHz:    w.SampleRateHz,
			SampleOffset:    w.SampleOffset,
			SNRDB:           round(w.Measure.SNRDB, 1e3),
			PSDDB:           round(w.Measure.PSDDB, 1e3),
			OffsetHz:        round(w.Measure.OffsetHz, 1e1),
			Lat:             r.LatDeg,
			Lon:             r.LonDeg,
			SigmaEastM:      round(se, 1e3),
			SigmaNorthM:     round(sn, 1e3),
			Rho:             round(rho, 1e6),
			SemiMajorM:      round(ell.SemiMajorM, 1e3),
			SemiMinorM:      round(ell.SemiMinorM, 1e3),
			OrientationDeg:  orientation(ell.OrientationDeg),
			ConfidenceLevel: p,
			ModelConfidence: mc,
			Model:           r.Model.Name,
			ModelVersion:    r.Model.Version,
			Seq:             w.Seq,
		},
	}, nil
}

// Marshal encodes the feature as one line of JSON.
func (f Feature) Marshal() ([]byte, error) { return json.Marshal(f) }

// orientation rounds to 1e-4 degrees inside [0, 180): 179.99996 is the same axis as 0,
// and api/schema/fix.json promises consumers the half-open range.
func orientation(deg float64) float64 {
	if r := round(deg, 1e4); r < 180 {
		return r
	}
	return 0
}

// round keeps JSON short and stable: millimetres and thousandths of a dB are plenty.
func round(v, scale float64) float64 { return math.Round(v*scale) / scale }
