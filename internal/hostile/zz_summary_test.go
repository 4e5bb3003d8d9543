package hostile

import "testing"

// TestZSummary runs last (tests run in source order, files in name order: keep this file
// last) and reports the suite's totals; it fails if any case crashed, hung or was not
// handled cleanly.
func TestZSummary(t *testing.T) {
	t.Log(suite.summary())
	if suite.tried == 0 {
		t.Skip("no hostile case ran (-run selected none)")
	}
	if len(suite.crashes) > 0 || len(suite.hangs) > 0 || suite.clean != suite.tried {
		t.Errorf("crashes %v, hangs %v", suite.crashes, suite.hangs)
	}
}
