// Package reference embeds edged's default model, a beacon identifier made by
// make_reference.py, and the catalogue of beacon sites it knows.
package reference

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// Model is the ONNX reference model, with its edged.contract metadata.
//
//go:embed beacon.onnx
var Model []byte

//go:embed beacons.json
var catalogue []byte

// Beacon is one catalogued transmitter site.
type Beacon struct {
	Name     string  `json:"name"`
	OffsetHz float64 `json:"offset_hz"`
	LatDeg   float64 `json:"lat_deg"`
	LonDeg   float64 `json:"lon_deg"`
}

// Beacons returns the catalogue, in band order.
func Beacons() []Beacon {
	var c struct{ Beacons []Beacon }
	if err := json.Unmarshal(catalogue, &c); err != nil {
		panic(fmt.Sprintf("embedded beacons.json: %v", err)) // a build-time asset; cannot happen at run time
	}
	return c.Beacons
}

// Lookup returns the beacon with the given name.
func Lookup(name string) (Beacon, error) {
	for _, b := range Beacons() {
		if b.Name == name {
			return b, nil
		}
	}
	return Beacon{}, fmt.Errorf("unknown beacon %q (catalogue: A…H)", name)
}
