package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/heimdall/edged/configs/safefile"
)

// CredentialPrefix starts a path in systemd's credential directory: LoadCredential=NAME:…
// in the unit makes the file $CREDENTIALS_DIRECTORY/NAME, a directory whose name depends on
// the unit, so the config names it through the variable.
const CredentialPrefix = "$CREDENTIALS_DIRECTORY/"

// ErrNoCredentialsDirectory means a path starts with $CREDENTIALS_DIRECTORY/ but the variable
// is not set: the process does not run under a unit with LoadCredential=.
var ErrNoCredentialsDirectory = errors.New("CREDENTIALS_DIRECTORY is not set (systemd sets it for a unit with LoadCredential=; " +
	"outside the unit, name the file itself)")

// Path resolves a path a key names: $CREDENTIALS_DIRECTORY/NAME becomes the file in
// systemd's credential directory; any other path is returned as it is. Validation and the
// stages that read the file at run time both resolve through here.
func Path(p string) (string, error) {
	rest, ok := strings.CutPrefix(p, CredentialPrefix)
	if !ok {
		return p, nil
	}
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return "", fmt.Errorf("%s: %w", p, ErrNoCredentialsDirectory)
	}
	return filepath.Join(dir, rest), nil
}

// ReadFile reads the regular file a key names (resolved by Path), refusing one larger than
// limit bytes, a FIFO or a device: a wrong path is an error, not a hang. Stages read the
// secrets and small files their keys name through it, at validation and at run time alike.
func ReadFile(p string, limit int64) ([]byte, error) {
	r, err := Path(p)
	if err != nil {
		return nil, err
	}
	return safefile.Read(r, limit)
}

// Readable checks that the file a key names opens for reading and is a regular file of at
// most limit bytes, without reading it. The path is taken as it is, not resolved by Path:
// it is for files a stage opens itself (a model, a library, a recording), by their path.
func Readable(p string, limit int64) error {
	f, _, err := safefile.Open(p, limit)
	if err != nil {
		return err
	}
	return f.Close()
}

// File records a mistake at key unless the file p names is readable (see Readable).
func (l *List) File(key, p string, limit int64) bool {
	if err := Readable(p, limit); err != nil {
		l.Add(key, "%v", err)
		return false
	}
	return true
}

// RedactURL returns raw with any user information in its authority replaced by "xxxxx",
// whether or not raw parses as a URL, so that a message can name a URL without its
// password.
func RedactURL(raw string) string {
	start, at := userInfo(raw)
	if at < 0 {
		return raw
	}
	return raw[:start] + "xxxxx" + raw[at:]
}

// HasUserInfo reports whether raw's authority holds user information (user:password@),
// whether or not raw parses as a URL.
func HasUserInfo(raw string) bool {
	_, at := userInfo(raw)
	return at >= 0
}

// userInfo finds the authority's user information: raw[start:at] precedes the "@" at raw[at];
// at is -1 when there is none.
func userInfo(raw string) (start, at int) {
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + 3
	}
	end := len(raw)
	if i := strings.IndexAny(raw[start:], "/?#"); i >= 0 {
		end = start + i
	}
	if i := strings.LastIndex(raw[start:end], "@"); i >= 0 {
		return start, start + i
	}
	return start, -1
}
