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
