// Package safefile reads the files a configuration names (models, contracts, credentials,
// tokens, metadata) without letting a wrong path hang or bloat the process: every file is
// opened non-blocking, must be a regular file, and is read through a size cap that the
// error states.
//
// A FIFO opened for reading blocks until a writer appears, and a device such as /dev/zero
// or a sparse file of several GiB makes os.ReadFile grow until the process is killed;
// both are refused here before a byte is read. The package imports no other edged package,
// so configs and every stage can use it.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxSmall is the cap for the small text files edged reads whole: contracts, tokens,
// passwords, PEM certificates and keys, metadata. Each is a few kB at most.
const MaxSmall = 1 << 20

// ErrNotRegular is returned for a path that is a FIFO, device, socket or directory.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned for a file larger than the caller's limit, or one that grew past
// it while being read.
var ErrTooLarge = errors.New("file too large")

// Open opens path for reading after checking that it is a regular file of at most limit
// bytes, and returns it with its FileInfo. The open is non-blocking, so a FIFO is refused
// instead of waiting for a writer; on a regular file the flag has no effect on reads.
// Symbolic links are followed (systemd's credentials and /etc/alternatives are links).
// A file that grows after the check is caught by reading it through Limit.
func Open(path string, limit int64) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, kind(fi.Mode()))
	}
	if fi.Size() > limit {
		f.Close()
		return nil, nil, tooLarge(path, fi.Size(), limit)
	}
	return f, fi, nil
}

// Read reads a whole regular file of at most limit bytes (see Open).
func Read(path string, limit int64) ([]byte, error) {
	f, fi, err := Open(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Size the buffer from the stat (files in /proc report 0 and grow it as they are read);
	// one byte more than the size lets the loop see EOF without growing the buffer.
	buf := make([]byte, 0, fi.Size()+1)
	r := Limit(f, path, limit)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// Limit wraps r so that reading more than limit bytes from it fails with ErrTooLarge,
// naming name and the limit. Unlike io.LimitReader it does not truncate silently.
func Limit(r io.Reader, name string, limit int64) io.Reader {
	return &limitReader{r: r, name: name, limit: limit, left: limit}
}

type limitReader struct {
	r     io.Reader
	name  string
	limit int64
	left  int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, tooLarge(l.name, -1, l.limit)
	}
	// Ask for one byte beyond the limit so that a source exactly limit bytes long ends in
	// EOF while a longer one is caught.
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), tooLarge(l.name, -1, l.limit)
	}
	return n, err
}

// tooLarge states the limit (and the size when it is known) in the error.
func tooLarge(name string, size, limit int64) error {
	if size < 0 {
		return fmt.Errorf("%s: %w: more than the %d-byte limit", name, ErrTooLarge, limit)
	}
	return fmt.Errorf("%s: %w: %d bytes, more than the %d-byte limit", name, ErrTooLarge, size, limit)
}

// kind names a non-regular file type for the error.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	default:
		return m.Type().String()
	}
}
