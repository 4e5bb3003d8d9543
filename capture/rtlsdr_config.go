package capture

import "fmt"

// RTLSDRConfig selects and sets up an RTL-SDR dongle on USB.
type RTLSDRConfig struct {
	// Serial selects the dongle by its EEPROM serial (set one per dongle with rtl_eeprom -s;
	// cheap dongles all ship as 00000001). It wins over Index when set.
	Serial string
	// Index selects the dongle by enumeration order when Serial is empty.
	Index int
	// Tuning is frequency, rate, gain and the rest.
	Tuning
	// Buffers is how many USB transfers librtlsdr keeps in flight and our ring holds
	// (default 16).
	Buffers int
	// BufferBytes is the size of one transfer, a multiple of 512 (default 262144, rtl_433's).
	BufferBytes int
}

// withDefaults fills zero fields.
func (c RTLSDRConfig) withDefaults() RTLSDRConfig {
	if c.Buffers <= 0 {
		c.Buffers = 16
	}
	if c.BufferBytes <= 0 {
		c.BufferBytes = 16 * 16384
	}
	return c
}

// validate checks the configuration without touching USB.
func (c RTLSDRConfig) validate() error {
	if err := c.Tuning.Validate(); err != nil {
		return err
	}
	if err := checkRTL2832Rate(c.SampleRateHz); err != nil {
		return err
	}
	if c.Index < 0 {
		return fmt.Errorf("%w: device index %d", ErrBadConfig, c.Index)
	}
	if c.BufferBytes%512 != 0 || c.BufferBytes > 1<<24 {
		return fmt.Errorf("%w: buffer size %d bytes is not a multiple of 512 up to 16 MiB", ErrBadConfig, c.BufferBytes)
	}
	if c.Buffers > 256 {
		return fmt.Errorf("%w: %d buffers (at most 256)", ErrBadConfig, c.Buffers)
	}
	return nil
}

// name is the Info.Name of the dongle.
func (c RTLSDRConfig) name() string {
	if c.Serial != "" {
		return "rtlsdr:" + c.Serial
	}
	return fmt.Sprintf("rtlsdr:%d", c.Index)
}
