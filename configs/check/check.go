// Package check is what every stage's Config.Validate shares: mistakes that name their key,
// so that configs can put the section, the file and the line in front; range checks for
// numbers read from YAML or the environment; files a key names, which must be readable
// regular files; URLs whose credentials must never be echoed; and systemd's credential
// directory. It imports no edged package, so configs and every stage can use it.
//
// A stage's Validate collects every mistake in a List and returns List.Err: the result is
// an errors.Join of *Error values, each with a key relative to the stage's section
// ("gain_mode", "tls.ca_file"). configs re-keys them with In ("source.rtlsdr.gain_mode")
// and reads them back with Leaves.
package check

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Error is one configuration mistake: the key it concerns and what is wrong with it. The
// message reads "key: problem"; the problem names the value (never a secret) and what
// would be accepted.
type Error struct {
	// Key is the yaml path of the key, dot-separated, relative to the Config that found
	// the mistake; empty when the mistake concerns the whole section.
	Key string
	// Err is the problem.
	Err error
	// class is the stage's sentinel (uplink.ErrInvalidConfig, capture.ErrBadConfig…):
	// errors.Is finds it, but it is not printed, so every message reads alike.
	class error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Key == "" {
		return e.Err.Error()
	}
	return e.Key + ": " + e.Err.Error()
}

// Unwrap returns the problem.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the stage's sentinel.
func (e *Error) Is(target error) bool { return e.class != nil && errors.Is(e.class, target) }

// Errorf returns a mistake at key, of class (which may be nil).
func Errorf(class error, key, format string, args ...any) error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...), class: class}
}

// List collects the mistakes one Validate finds, so that all of them are reported at once.
// The zero value is usable and has no class.
type List struct {
	class error
	errs  []error
}

// NewList returns a List whose errors match class with errors.Is.
func NewList(class error) *List { return &List{class: class} }

// Add records a mistake at key.
func (l *List) Add(key, format string, args ...any) {
	l.errs = append(l.errs, Errorf(l.class, key, format, args...))
}

// Wrap records err at key, unless it is nil. Mistakes already keyed inside err (another
// Validate's) keep their keys, prefixed with key.
func (l *List) Wrap(key string, err error) {
	if err == nil {
		return
	}
	for _, e := range Leaves(err) {
		if e.class == nil {
			e.class = l.class
		}
		e.Key = Join(key, e.Key)
		l.errs = append(l.errs, e)
	}
}

// Err is every mistake recorded, joined, or nil.
func (l *List) Err() error { return errors.Join(l.errs...) }

// OK reports whether nothing was recorded.
func (l *List) OK() bool { return len(l.errs) == 0 }

// Join joins two key paths with a dot; either may be empty.
func Join(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "":
		return parent
	}
	return parent + "." + child
}

// In puts every mistake in err under section ("mqtt" turns "tls.ca_file" into
// "mqtt.tls.ca_file"). Errors that carry no key are keyed by section itself.
func In(section string, err error) error {
	if err == nil {
		return nil
	}
	leaves := Leaves(err)
	out := make([]error, len(leaves))
	for i, e := range leaves {
		e.Key = Join(section, e.Key)
		out[i] = e
	}
	return errors.Join(out...)
}

// Leaves flattens err (joined errors included) into its mistakes, as copies that the caller
// may re-key. An error that is not an *Error becomes one with an empty key.
func Leaves(err error) []*Error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		c := *e
		return []*Error{&c}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Error
		for _, x := range j.Unwrap() {
			out = append(out, Leaves(x)...)
		}
		return out
	}
	return []*Error{{Err: err}}
}

// Number checks that v is a finite number in [lo, hi]; unit follows the bounds in the
// message ("seconds", "Hz", "dB"…).
func (l *List) Number(key string, v, lo, hi float64, unit string) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
		l.Add(key, "%v: want a number from %v to %v%s", v, lo, hi, withSpace(unit))
		return false
	}
	return true
}

// Positive checks that v is a finite number above 0 and at most hi.
func (l *List) Positive(key string, v, hi float64, unit string) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > hi {
		l.Add(key, "%v: want a number above 0 and at most %v%s", v, hi, withSpace(unit))
		return false
	}
	return true
}

// Int checks that v is in [lo, hi].
func (l *List) Int(key string, v, lo, hi int64) bool {
	if v < lo || v > hi {
		l.Add(key, "%d: want %d to %d", v, lo, hi)
		return false
	}
	return true
}

// OneOf checks that v is one of allowed, and names them all when it is not.
func (l *List) OneOf(key, v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	l.Add(key, "%q: want %s", v, Alternatives(allowed...))
	return false
}

// Alternatives lists words as "a, b or c", each quoted when it would read as empty.
func Alternatives(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		if w == "" {
			w = `""`
		}
		q[i] = w
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func withSpace(unit string) string {
	if unit == "" {
		return ""
	}
	return " " + unit
}

// MaxReceiverIDBytes bounds receiver_id: it starts every fix id (a bbolt key, at most
// 32 KiB) and is a level of every MQTT topic (at most 65535 bytes); 64 bytes of a small
// alphabet keep ids, topics and client ids short and safe in any consumer's path or query.
const MaxReceiverIDBytes = 64

// ReceiverID checks a receiver id: 1 to MaxReceiverIDBytes ASCII letters, digits, '.', '_'
// or '-'. That keeps MQTT's wildcards (+ #), its level separator (/), the fix id's ':' and
// anything a shell or URL would need quoted out of it.
func ReceiverID(id string) error {
	if id == "" || len(id) > MaxReceiverIDBytes {
		return fmt.Errorf("%q: want 1 to %d characters", shorten(id), MaxReceiverIDBytes)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q: want letters, digits, '.', '_' or '-' only (it is an MQTT topic level and starts every fix id)", shorten(id))
		}
	}
	return nil
}

// shorten keeps a message about an absurdly long value readable.
func shorten(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:n], len(s))
}
