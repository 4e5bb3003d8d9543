//go:build !rtlsdr

package capture

import (
	"fmt"
	"log/slog"
)

// OpenRTLSDR would open an RTL-SDR dongle; this binary was built without the rtlsdr tag (and
// so without cgo and librtlsdr), so it always fails with ErrNoRTLSDRSupport.
func OpenRTLSDR(cfg RTLSDRConfig, log *slog.Logger) (Source, error) {
	return nil, fmt.Errorf("%s: %w (rebuild with -tags rtlsdr and librtlsdr-dev)", cfg.name(), ErrNoRTLSDRSupport)
}
