package infer

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/heimdall/edged/infer/geo"
)

// A packed fix is what the store keeps of a Feature: the ellipse's parameters instead of
// its ring, which is about nine tenths of the GeoJSON. The ring is drawn again on read by
// the same code that drew it first, from the same float64 inputs, so Unpack gives back the
// bytes Marshal gave, byte for byte.
//
// Layout: packMagic, then latDeg, lonDeg, semi-major m, semi-minor m and orientation deg as
// little-endian float64 bits, the vertex count as a uvarint, the id as a uvarint length
// and bytes, and the properties object as Marshal wrote it, DEFLATE-compressed (RFC 1951)
// with packDict as preset dictionary: about 230 bytes for a 2.4 KB fix.
const packMagic = 0x01 // never '{', so a Feature stored whole is told apart

// packDict primes the compressor with a typical properties object, so the keys cost a
// back-reference each. Fixes packed with it must stay readable: never change it; a new
// dictionary needs a new packMagic.
const packDict = `{"receiver_id":"edged-demo","time":"2026-11-27T17:25:54.488969541Z","center_freq_hz":433920000,"sample_rate_hz":250000,"sample_offset":16384,"snr_db":20.486,"psd_db":-12.617,"offset_hz":-15625,"lat":45.46419906616211,"lon":9.1899995803833,"sigma_east_m":13839.309,"sigma_north_m":8303.586,"rho":0.3,"semi_major_m":34664.552,"semi_minor_m":18947.337,"orientation_deg":75.3211,"confidence_level":0.95,"model_confidence":0.9878537654876709,"model":"edged-reference-beacon","model_version":"1","seq":1}`

// maxPackedProps bounds what a packed fix's properties may inflate to: a damaged or
// hostile record cannot make Unpack allocate more.
const maxPackedProps = 1 << 20

var (
	flateWriters = sync.Pool{New: func() any {
		w, err := flate.NewWriterDict(nil, flate.DefaultCompression, []byte(packDict))
		if err != nil {
			panic(err) // only for an invalid level
		}
		return w
	}}
	flateReaders = sync.Pool{New: func() any { return flate.NewReaderDict(nil, []byte(packDict)) }}
)

// shape is what Polygon drew a Feature's geometry from.
type shape struct {
	latDeg, lonDeg float64
	ell            geo.Ellipse
	vertices       int
}

// ErrPacked reports a packed fix that cannot be read back.
var ErrPacked = errors.New("malformed packed fix")

// Pack returns the compact form of f that Unpack renders back into Marshal's bytes. A
// Feature that NewFeature did not make (its shape is unknown) is packed as its whole JSON.
func (f Feature) Pack() ([]byte, error) {
	if f.shape.vertices == 0 {
		return f.Marshal()
	}
	props, err := json.Marshal(f.Properties)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+5*8+2*binary.MaxVarintLen32+len(f.ID)+len(props))
	b = append(b, packMagic)
	for _, v := range [...]float64{f.shape.latDeg, f.shape.lonDeg, f.shape.ell.SemiMajorM, f.shape.ell.SemiMinorM, f.shape.ell.OrientationDeg} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	b = binary.AppendUvarint(b, uint64(f.shape.vertices))
	b = binary.AppendUvarint(b, uint64(len(f.ID)))
	b = append(b, f.ID...)
	buf := bytes.NewBuffer(b)
	w := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(w)
	w.Reset(buf)
	if _, err := w.Write(props); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Unpack renders a packed fix as the GeoJSON Feature that Marshal gave when it was
// computed. Anything else (a Feature stored whole) is returned as it is.
func Unpack(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != packMagic {
		return b, nil
	}
	p := b[1:]
	if len(p) < 5*8 {
		return nil, fmt.Errorf("%w: %d bytes", ErrPacked, len(b))
	}
	var v [5]float64
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:]))
	}
	p = p[5*8:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n == 0 || n > math.MaxInt32 {
		return nil, fmt.Errorf("%w: vertex count", ErrPacked)
	}
	p = p[w:]
	idLen, w := binary.Uvarint(p)
	if w <= 0 || idLen > uint64(len(p)-w) {
		return nil, fmt.Errorf("%w: id length", ErrPacked)
	}
	id := string(p[w : w+int(idLen)])
	props, err := inflate(p[w+int(idLen):])
	if err != nil {
		return nil, fmt.Errorf("%w: properties: %w", ErrPacked, err)
	}
	g, err := geo.Polygon(v[0], v[1], geo.Ellipse{SemiMajorM: v[2], SemiMinorM: v[3], OrientationDeg: v[4]}, int(n))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPacked, err)
	}
	// Feature's fields in Marshal's order and encoding; the geometry and the properties are
	// compact JSON already, which encoding/json would only copy.
	idJSON, err := json.Marshal(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPacked, err)
	}
	bbox, err := json.Marshal(g.BBox())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPacked, err)
	}
	geom, err := g.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPacked, err)
	}
	if !json.Valid(props) {
		return nil, fmt.Errorf("%w: properties are not JSON", ErrPacked)
	}
	out := make([]byte, 0, 64+len(idJSON)+len(bbox)+len(geom)+len(props))
	out = append(out, `{"type":"Feature","id":`...)
	out = append(out, idJSON...)
	out = append(out, `,"bbox":`...)
	out = append(out, bbox...)
	out = append(out, `,"geometry":`...)
	out = append(out, geom...)
	out = append(out, `,"properties":`...)
	out = append(out, props...)
	return append(out, '}'), nil
}

func inflate(z []byte) ([]byte, error) {
	r := flateReaders.Get().(io.ReadCloser)
	defer flateReaders.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(z), []byte(packDict)); err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, maxPackedProps+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxPackedProps {
		return nil, fmt.Errorf("more than %d bytes", maxPackedProps)
	}
	return out, nil
}
