package dsp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

var npyMagic = []byte("\x93NUMPY")

// maxNPYValues bounds what ReadNPY will allocate (256 Mi values).
const maxNPYValues = 1 << 28

// WriteNPY writes data, a C-order float32 array of the given shape, as a NumPy .npy (format
// version 1.0, little-endian '<f4'), so numpy.load reads it back exactly.
func WriteNPY(w io.Writer, shape []int, data []float32) error {
	n := 1
	dims := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("%w: negative dimension %d in shape %v", ErrNPY, d, shape)
		}
		n *= d
		dims[i] = strconv.Itoa(d)
	}
	if n != len(data) {
		return fmt.Errorf("%w: shape %v holds %d values, data has %d", ErrNPY, shape, n, len(data))
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", tuple)
	// Pad with spaces so that the data starts on a 64-byte boundary, then end with '\n'.
	total := len(npyMagic) + 2 + 2 + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("%w: header of %d bytes is too long for format 1.0", ErrNPY, len(header))
	}
	buf := make([]byte, 0, len(npyMagic)+4+len(header)+4*len(data))
	buf = append(buf, npyMagic...)
	buf = append(buf, 1, 0)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(header)))
	buf = append(buf, header...)
	for _, v := range data {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	_, err := w.Write(buf)
	return err
}

// ReadNPY reads a NumPy .npy array of little-endian float32 ('<f4') or float64 ('<f8') in C
// order (format versions 1.0 to 3.0) and returns its shape and values as float64.
func ReadNPY(r io.Reader) (shape []int, data []float64, err error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: reading magic: %w", ErrNPY, err)
	}
	if !bytes.Equal(pre[:6], npyMagic) {
		return nil, nil, fmt.Errorf("%w: missing \\x93NUMPY magic", ErrNPY)
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, nil, fmt.Errorf("%w: reading header length: %w", ErrNPY, err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, nil, fmt.Errorf("%w: reading header length: %w", ErrNPY, err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		if hlen > 1<<20 {
			return nil, nil, fmt.Errorf("%w: header length %d is implausible", ErrNPY, hlen)
		}
	default:
		return nil, nil, fmt.Errorf("%w: unsupported format version %d.%d", ErrNPY, pre[6], pre[7])
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, nil, fmt.Errorf("%w: reading header: %w", ErrNPY, err)
	}
	descr, fortran, shape, err := parseNPYHeader(string(hb))
	if err != nil {
		return nil, nil, err
	}
	if fortran {
		return nil, nil, fmt.Errorf("%w: fortran_order arrays are not supported", ErrNPY)
	}
	size := 0
	switch descr {
	case "<f4":
		size = 4
	case "<f8":
		size = 8
	default:
		return nil, nil, fmt.Errorf("%w: dtype %q is not '<f4' or '<f8'", ErrNPY, descr)
	}
	n := 1
	for _, d := range shape {
		if d != 0 && n > maxNPYValues/d {
			return nil, nil, fmt.Errorf("%w: shape %v is too large", ErrNPY, shape)
		}
		n *= d
	}
	// Read in chunks so that a header claiming a huge array cannot make us allocate it
	// before the data proves to be there.
	data = make([]float64, 0, min(n, 1<<16))
	chunk := make([]byte, size*min(max(n, 1), 1<<13))
	for len(data) < n {
		b := chunk[:size*min(n-len(data), len(chunk)/size)]
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, nil, fmt.Errorf("%w: reading %d values of shape %v: %w", ErrNPY, n, shape, err)
		}
		for i := 0; i < len(b); i += size {
			if size == 4 {
				data = append(data, float64(math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))))
			} else {
				data = append(data, math.Float64frombits(binary.LittleEndian.Uint64(b[i:])))
			}
		}
	}
	return shape, data, nil
}

// parseNPYHeader reads the Python dict literal NumPy writes:
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
func parseNPYHeader(h string) (descr string, fortran bool, shape []int, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: header %q: %s", ErrNPY, h, fmt.Sprintf(format, args...))
	}
	h = strings.TrimSpace(h)
	if !strings.HasPrefix(h, "{") || !strings.HasSuffix(h, "}") {
		return "", false, nil, bad("not a dict")
	}
	field := func(key string) (string, error) {
		i := strings.Index(h, "'"+key+"'")
		if i < 0 {
			return "", bad("no %q", key)
		}
		rest := strings.TrimSpace(h[i+len(key)+2:])
		if !strings.HasPrefix(rest, ":") {
			return "", bad("no ':' after %q", key)
		}
		return strings.TrimSpace(rest[1:]), nil
	}
	v, err := field("descr")
	if err != nil {
		return "", false, nil, err
	}
	if len(v) < 2 || (v[0] != '\'' && v[0] != '"') || strings.IndexByte(v[1:], v[0]) < 0 {
		return "", false, nil, bad("descr is not a string")
	}
	descr = v[1 : 1+strings.IndexByte(v[1:], v[0])]
	if v, err = field("fortran_order"); err != nil {
		return "", false, nil, err
	}
	switch {
	case strings.HasPrefix(v, "True"):
		fortran = true
	case strings.HasPrefix(v, "False"):
	default:
		return "", false, nil, bad("fortran_order is not True or False")
	}
	if v, err = field("shape"); err != nil {
		return "", false, nil, err
	}
	end := strings.IndexByte(v, ')')
	if !strings.HasPrefix(v, "(") || end < 0 {
		return "", false, nil, bad("shape is not a tuple")
	}
	shape = []int{}
	for _, part := range strings.Split(v[1:end], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := strconv.Atoi(strings.TrimSuffix(part, "L"))
		if err != nil || d < 0 {
			return "", false, nil, bad("bad dimension %q", part)
		}
		shape = append(shape, d)
	}
	return descr, fortran, shape, nil
}
