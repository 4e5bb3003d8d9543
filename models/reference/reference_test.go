package reference

import (
	"strings"
	"testing"
)

// Ensure the catalogue holds the eight beacons A…H in band order, Lookup finds each, and an
// unknown name is an error naming the catalogue.
func TestLookup(t *testing.T) {
	bs := Beacons()
	if len(bs) != 8 {
		t.Fatalf("%d beacons, want 8", len(bs))
	}
	for i, b := range bs {
		if want := string(rune('A' + i)); b.Name != want {
			t.Errorf("beacon %d is %q, want %q", i, b.Name, want)
		}
		if i > 0 && b.OffsetHz <= bs[i-1].OffsetHz {
			t.Errorf("beacon %s at %g Hz is not above %s", b.Name, b.OffsetHz, bs[i-1].Name)
		}
		got, err := Lookup(b.Name)
		if err != nil || got != b {
			t.Errorf("Lookup(%q) = %+v, %v", b.Name, got, err)
		}
	}
	if _, err := Lookup("Z"); err == nil || !strings.Contains(err.Error(), `"Z"`) || !strings.Contains(err.Error(), "A…H") {
		t.Errorf("Lookup(Z): %v", err)
	}
	if len(Model) == 0 {
		t.Error("the embedded model is empty")
	}
}
