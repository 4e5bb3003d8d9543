// Package journal marks log lines with their syslog priority when stderr is systemd's
// journal, so that `journalctl -p warning` shows edged's warnings and errors.
//
// systemd connects a service's stderr to journald through a stream socket and names it in
// JOURNAL_STREAM as "<device>:<inode>" (systemd.exec(5), "Environment variables in spawned
// processes"). journald reads a line starting with "<N>" as one of priority N and strips the
// prefix (sd-daemon(3)); a line without one gets the unit's SyslogLevel=, info. The prefix is
// added only when stderr really is that socket: a terminal, a file or a pipe gets plain lines,
// as does a child process that inherited JOURNAL_STREAM but writes elsewhere.
package journal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
)

// The sd-daemon(3) prefixes edged uses.
const (
	PrefixErr     = "<3>"
	PrefixWarning = "<4>"
	PrefixInfo    = "<6>"
	PrefixDebug   = "<7>"
)

// Prefix maps a slog level to its syslog priority prefix.
func Prefix(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return PrefixErr
	case l >= slog.LevelWarn:
		return PrefixWarning
	case l >= slog.LevelInfo:
		return PrefixInfo
	}
	return PrefixDebug
}

// IsJournal reports whether f is the stream that env (JOURNAL_STREAM's value) names.
func IsJournal(f *os.File, env string) bool {
	var dev, ino uint64
	if _, err := fmt.Sscanf(env, "%d:%d", &dev, &ino); err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && st.Ino == ino // Dev is not uint64 on every port
}

// StderrIsJournal reports whether this process's stderr is the journal.
func StderrIsJournal() bool { return IsJournal(os.Stderr, os.Getenv("JOURNAL_STREAM")) }

// StderrPrefix is PrefixErr when stderr is the journal, else "": for the one-line error a
// command prints before it exits.
func StderrPrefix() string {
	if StderrIsJournal() {
		return PrefixErr
	}
	return ""
}

// NewHandler returns a handler that writes what build's handler writes to w, each record
// prefixed with its level's priority. build must return a handler that writes each record
// with a single Write call, as slog's text and JSON handlers do.
func NewHandler(w io.Writer, build func(io.Writer) slog.Handler) slog.Handler {
	out := &prefixWriter{w: w}
	return &handler{inner: build(out), out: out}
}

type handler struct {
	inner slog.Handler
	out   *prefixWriter
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.prefix = Prefix(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{inner: h.inner.WithAttrs(as), out: h.out}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(name), out: h.out}
}

// prefixWriter puts the current record's prefix before the line the inner handler writes.
// Write is called only from handler.Handle, which holds mu.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(append(p.buf[:0], p.prefix...), b...)
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}
