//go:build rtlsdr

package capture

/*
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"time"
	"unsafe"
)

// edgedRTLSDRCallback is librtlsdr's read_async callback. It runs on libusb's event thread
// and must return quickly: it only copies into the ring (or counts a drop).
//
//export edgedRTLSDRCallback
func edgedRTLSDRCallback(buf *C.uchar, n C.uint32_t, ctx unsafe.Pointer) {
	r := cgo.Handle(uintptr(ctx)).Value().(*ring)
	r.push(unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n)), time.Now())
}
