package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two countries sharing one arc (0); the land's outline is arcs 1 and 2.
const topo = `{"type":"Topology","transform":{"scale":[0.5,0.25],"translate":[-10,-5]},
 "objects":{
  "countries":{"type":"GeometryCollection","geometries":[
    {"type":"Polygon","arcs":[[0,1]]},
    {"type":"MultiPolygon","arcs":[[[-1,2]]]},
    {"type":null}]},
  "land":{"type":"GeometryCollection","geometries":[{"type":"Polygon","arcs":[[1,2]]}]}},
 "arcs":[[[0,0],[0,10]],[[0,10],[-10,0],[0,-10],[10,0]],[[0,0],[10,0],[0,10],[-10,0]]]}`

// Ensure the land's arcs become coast, the arcs two countries share become borders, the
// quantised deltas and transform are kept as they are, and broken input is refused by name.
func TestConvert(t *testing.T) {
	bm, err := convert([]byte(topo))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(bm.Coast) != "[[0 10 -10 0 0 -10 10 0] [0 0 10 0 0 10 -10 0]]" || fmt.Sprint(bm.Borders) != "[[0 0 0 10]]" {
		t.Errorf("coast %v borders %v", bm.Coast, bm.Borders)
	}
	if bm.Scale != [2]float64{0.5, 0.25} || bm.Translate != [2]float64{-10, -5} {
		t.Errorf("transform %v %v", bm.Scale, bm.Translate)
	}
	for name, bad := range map[string]string{
		"arc 7":     strings.Replace(topo, "[[1,2]]", "[[1,7]]", 1),
		"Topology":  strings.Replace(topo, `"Topology"`, `"Feature"`, 1),
		"\"land\"":  strings.Replace(topo, `"land"`, `"sea"`, 1),
		"topojson:": topo[:40],
	} {
		if _, err := convert([]byte(bad)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("broken input (%s): error %v", name, err)
		}
	}
}

// Ensure run reads the npm tarball and writes the basemap and the licence note.
func TestRunFromTarball(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for name, body := range map[string]string{
		"package/countries-50m.json": topo,
		"package/LICENSE":            "ISC test licence",
		"package/package.json":       `{"name":"world-atlas","version":"9.9.9"}`,
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	tgz := filepath.Join(dir, "wa.tgz")
	if err := os.WriteFile(tgz, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(tgz, dir); err != nil {
		t.Fatal(err)
	}
	var bm basemap
	data, _ := os.ReadFile(filepath.Join(dir, "basemap.json"))
	if err := json.Unmarshal(data, &bm); err != nil || !strings.Contains(bm.Source, "world-atlas@9.9.9") || len(bm.Coast) != 2 {
		t.Errorf("basemap.json: %v, %+v", err, bm)
	}
	lic, _ := os.ReadFile(filepath.Join(dir, "LICENSE-world-atlas.txt"))
	if !strings.Contains(string(lic), "ISC test licence") || !strings.Contains(string(lic), "public domain") {
		t.Errorf("licence note: %s", lic)
	}
	if err := run(filepath.Join(dir, "basemap.json"), dir); err == nil {
		t.Error("a file that is not a tarball was accepted")
	}
}
