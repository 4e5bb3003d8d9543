//go:build !rtlsdr

package capture

import (
	"fmt"
	"log/slog"
)

// OpenRTLSDR would open an RTL-SDR dongle; this binary was built without the rtlsdr tag (and
// so without cgo and librtlsdr), so it always fails with ErrNoRTLSDRSupport. That error also
// matches ErrBadConfig: no retry can fix it, only another source kind or another build.
func OpenRTLSDR(cfg RTLSDRConfig, log *slog.Logger) (Source, error) {
	return nil, fmt.Errorf("%s: %w: %w (rebuild with -tags rtlsdr and librtlsdr-dev)", cfg.name(), ErrBadConfig, ErrNoRTLSDRSupport)
}
