package capture

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// siQuantity is a number written the way rtl_433 writes frequencies and sample rates: a
// decimal number, then an optional multiplier k, M or G (any case; m is mega, never milli),
// then an optional unit, Hz or sps.
type siQuantity struct {
	value  float64 // the number times its multiplier
	prefix byte    // the multiplier, lower case: 0, 'k', 'm' or 'g'
	unit   string  // "", "hz" or "sps"
}

// parseSI reads num followed by suffix (the multiplier and unit, "" for none). It fails on
// a number strconv does not take, NaN, or a suffix that is not [k|M|G][Hz|sps].
func parseSI(num, suffix string) (siQuantity, bool) {
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) {
		return siQuantity{}, false
	}
	q := siQuantity{}
	u := strings.ToLower(suffix)
	for _, unit := range []string{"hz", "sps"} {
		if rest, ok := strings.CutSuffix(u, unit); ok {
			q.unit, u = unit, rest
			break
		}
	}
	scale := 1.0
	switch u {
	case "":
	case "k":
		scale = 1e3
	case "m":
		scale = 1e6
	case "g":
		scale = 1e9
	default:
		return siQuantity{}, false
	}
	if u != "" {
		q.prefix = u[0]
	}
	q.value = v * scale
	return q, true
}

// ParseHz reads a frequency or sample rate the way rtl_433's -f and -s flags do: a decimal
// number with an optional k, M or G multiplier and an optional Hz or sps unit ("433.92M",
// "250k", "868.3MHz", "2.4Msps", "915000000"). It returns the value in Hz (or S/s).
func ParseHz(s string) (float64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && isAlpha(t[i-1]) {
		i--
	}
	q, ok := parseSI(t[:i], t[i:])
	if !ok || math.IsInf(q.value, 0) || q.value <= 0 {
		return 0, fmt.Errorf("bad frequency or rate %q (want e.g. 433.92M, 250k, 2400000)", s)
	}
	return q.value, nil
}
