package store

import (
	"errors"
	"fmt"
	"testing"
)

// Ensure Recent returns the newest fixes by fix time whatever the commit order, oldest
// first, and refuses a non-positive limit.
func TestRecentNewestByTime(t *testing.T) {
	db := openTest(t, Options{}, nil)
	if got, err := db.Recent(3); err != nil || len(got) != 0 {
		t.Fatalf("Recent on an empty store = %v, %v", ids(got), err)
	}
	if _, err := db.Commit(mkFix(5), mkFix(1), mkFix(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mkFix(2), mkFix(4)); err != nil {
		t.Fatal(err)
	}
	got, err := db.Recent(3)
	if err != nil || fmt.Sprint(ids(got)) != "[rx1:3000 rx1:4000 rx1:5000]" {
		t.Fatalf("Recent(3) = %v, %v", ids(got), err)
	}
	all, _ := db.Recent(100)
	if len(all) != 5 || all[0].ID != "rx1:1000" {
		t.Fatalf("Recent(100) = %v", ids(all))
	}
	if _, err := db.Recent(0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Recent(0) error %v, want ErrInvalidArgument", err)
	}
}

// Ensure stored bodies are spliced into one valid FeatureCollection as they are, in order,
// and a body that is not JSON is left out and reported.
func TestFeatureCollectionSplicesBodies(t *testing.T) {
	fixes := []Fix{
		{ID: "rx:0", Body: []byte(`{"type":"Feature","id":"rx:0"}`)},
		{ID: "rx:1", Body: []byte(`{"type":"Feature",`)},
		{ID: "rx:2", Body: []byte(`{"type":"Feature","id":"rx:2"}`)},
	}
	var skipped []string
	got := FeatureCollection(fixes, func(f Fix) { skipped = append(skipped, f.ID) })
	want := `{"type":"FeatureCollection","features":[{"type":"Feature","id":"rx:0"},{"type":"Feature","id":"rx:2"}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if len(skipped) != 1 || skipped[0] != "rx:1" {
		t.Errorf("skipped %v, want [rx:1]", skipped)
	}
	if got := FeatureCollection(nil, nil); string(got) != `{"type":"FeatureCollection","features":[]}` {
		t.Errorf("no fixes: %s", got)
	}
}
