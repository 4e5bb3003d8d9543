// Command basemap converts Natural Earth's 1:50m countries, as the npm package world-atlas
// ships them (TopoJSON), into the status page's offline basemap: coastlines and land
// borders as delta-encoded polylines, nothing else. scripts/basemap.sh fetches the package
// with npm pack, checks its pinned SHA-256 and runs this; the result is committed
// (internal/ui/web/basemap.json), so building and testing edged need no network.
//
//	basemap -tgz world-atlas-2.0.2.tgz -out internal/ui/web
//
// The output keeps TopoJSON's quantisation (a 10⁵ grid: about 400 m of longitude, 190 m of
// latitude at 1:50m) and its transform, so positions are exactly Natural Earth's as
// world-atlas quantised them:
//
//	{"source": "...", "scale": [sx, sy], "translate": [tx, ty],
//	 "coast": [[x0, y0, dx1, dy1, ...], ...], "borders": [...]}
//
// lon = (x0 + dx1 + … + dxi) × sx + tx, likewise lat.
package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	tgz := flag.String("tgz", "", "world-atlas npm tarball (npm pack world-atlas@2.0.2)")
	out := flag.String("out", "internal/ui/web", "folder for basemap.json and LICENSE-world-atlas.txt")
	flag.Parse()
	if *tgz == "" {
		fmt.Fprintln(os.Stderr, "basemap: -tgz is required")
		os.Exit(2)
	}
	if err := run(*tgz, *out); err != nil {
		fmt.Fprintln(os.Stderr, "basemap:", err)
		os.Exit(1)
	}
}

func run(tgz, out string) error {
	files, err := readTarball(tgz, "package/countries-50m.json", "package/LICENSE", "package/package.json")
	if err != nil {
		return err
	}
	var pkg struct{ Name, Version string }
	if err := json.Unmarshal(files["package/package.json"], &pkg); err != nil {
		return fmt.Errorf("package.json: %w", err)
	}
	bm, err := convert(files["package/countries-50m.json"])
	if err != nil {
		return err
	}
	bm.Source = fmt.Sprintf("Natural Earth 1:50m countries (public domain), from the npm package %s@%s (ISC licence)", pkg.Name, pkg.Version)
	b, err := json.Marshal(bm)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "basemap.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	lic := fmt.Sprintf("The basemap (basemap.json) is converted from %s@%s, which redistributes\n"+
		"Natural Earth's vector data (public domain, https://www.naturalearthdata.com/about/terms-of-use/).\n"+
		"world-atlas's licence follows.\n\n%s", pkg.Name, pkg.Version, files["package/LICENSE"])
	return os.WriteFile(filepath.Join(out, "LICENSE-world-atlas.txt"), []byte(lic), 0o644)
}

// readTarball returns the named files of a gzipped tarball, failing if one is missing.
func readTarball(path string, names ...string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	got := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if want[h.Name] {
			if got[h.Name], err = io.ReadAll(io.LimitReader(tr, 64<<20)); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, h.Name, err)
			}
		}
	}
	for _, n := range names {
		if got[n] == nil {
			return nil, fmt.Errorf("%s: no %s", path, n)
		}
	}
	return got, nil
}

// basemap is the page's format (see the package doc).
type basemap struct {
	Source    string     `json:"source"`
	Scale     [2]float64 `json:"scale"`
	Translate [2]float64 `json:"translate"`
	Coast     [][]int64  `json:"coast"`
	Borders   [][]int64  `json:"borders"`
}

// topology is the part of TopoJSON (https://github.com/topojson/topojson-specification)
// world-atlas uses: a quantised topology with delta-encoded arcs.
type topology struct {
	Type      string `json:"type"`
	Transform *struct {
		Scale     [2]float64 `json:"scale"`
		Translate [2]float64 `json:"translate"`
	} `json:"transform"`
	Objects map[string]struct {
		Type       string `json:"type"`
		Geometries []struct {
			Type string          `json:"type"`
			Arcs json.RawMessage `json:"arcs"`
		} `json:"geometries"`
	} `json:"objects"`
	Arcs [][][2]int64 `json:"arcs"`
}

// convert keeps the arcs of the land outline as coast and the arcs two countries share as
// borders.
func convert(data []byte) (*basemap, error) {
	var t topology
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("topojson: %w", err)
	}
	if t.Type != "Topology" || t.Transform == nil {
		return nil, errors.New("topojson: not a quantised Topology")
	}
	land, err := arcUses(t, "land")
	if err != nil {
		return nil, err
	}
	countries, err := arcUses(t, "countries")
	if err != nil {
		return nil, err
	}
	bm := &basemap{Scale: t.Transform.Scale, Translate: t.Transform.Translate, Coast: [][]int64{}, Borders: [][]int64{}}
	for i, arc := range t.Arcs {
		if len(arc) < 2 {
			continue
		}
		flat := make([]int64, 0, 2*len(arc))
		for _, p := range arc {
			flat = append(flat, p[0], p[1])
		}
		switch {
		case land[i] > 0:
			bm.Coast = append(bm.Coast, flat)
		case countries[i] > 1:
			bm.Borders = append(bm.Borders, flat)
		}
	}
	return bm, nil
}

// arcUses counts how many times each arc index is referenced by the object's geometries.
// Arc references are nested arrays of integers; ~i means arc i reversed.
func arcUses(t topology, object string) (map[int]int, error) {
	obj, ok := t.Objects[object]
	if !ok {
		return nil, fmt.Errorf("topojson: no object %q", object)
	}
	uses := map[int]int{}
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case float64:
			i := int(x)
			if i < 0 {
				i = ^i
			}
			if i >= len(t.Arcs) {
				return fmt.Errorf("topojson: %s references arc %d of %d", object, i, len(t.Arcs))
			}
			uses[i]++
		}
		return nil
	}
	for _, g := range obj.Geometries {
		if len(g.Arcs) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(g.Arcs, &v); err != nil {
			return nil, fmt.Errorf("topojson: %s arcs: %w", object, err)
		}
		if err := walk(v); err != nil {
			return nil, err
		}
	}
	return uses, nil
}
