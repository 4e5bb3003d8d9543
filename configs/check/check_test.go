package check

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var errStage = errors.New("invalid stage config")

// Ensure a List keeps every mistake, keys them, and lets errors.Is find the stage's
// sentinel without printing it; In and Wrap re-key nested mistakes.
func TestListKeysAndClass(t *testing.T) {
	inner := NewList(errStage)
	inner.Add("gain_mode", "%q: want auto or manual", "manul")
	inner.Int("ppm", 5000, -1000, 1000)
	outer := NewList(nil)
	outer.Wrap("rtlsdr", inner.Err())
	outer.OneOf("kind", "floppy", "file", "rtlsdr")
	err := In("source", outer.Err())
	want := `source.rtlsdr.gain_mode: "manul": want auto or manual` + "\n" +
		"source.rtlsdr.ppm: 5000: want -1000 to 1000\n" +
		`source.kind: "floppy": want file or rtlsdr`
	if err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if !errors.Is(err, errStage) || strings.Contains(err.Error(), errStage.Error()) {
		t.Errorf("sentinel: Is %v, printed %v", errors.Is(err, errStage), err)
	}
	leaves := Leaves(err)
	if len(leaves) != 3 || leaves[2].Key != "source.kind" || errors.Is(leaves[2], errStage) {
		t.Errorf("leaves %v", leaves)
	}
	if NewList(nil).Err() != nil || In("x", nil) != nil {
		t.Error("no mistakes is not nil")
	}
}

// Ensure numbers out of range, NaN and infinities are refused with the bounds named.
func TestNumberBounds(t *testing.T) {
	nan, inf := 0.0, 1.0
	nan /= nan
	inf /= 0
	for _, v := range []float64{nan, inf, -inf, -1, 11} {
		l := NewList(nil)
		if l.Number("k", v, 0, 10, "seconds") || !strings.Contains(l.Err().Error(), "want a number from 0 to 10 seconds") {
			t.Errorf("%v: %v", v, l.Err())
		}
		l = NewList(nil)
		if l.Positive("k", v, 10, "") {
			t.Errorf("%v accepted as positive", v)
		}
	}
	l := NewList(nil)
	if !l.Number("k", 10, 0, 10, "") || !l.Positive("k", 1e-9, 10, "") || l.Positive("k", 0, 10, "") {
		t.Error("bounds are not inclusive as documented")
	}
}

// Ensure credential paths resolve through $CREDENTIALS_DIRECTORY, an unset variable is an
// error saying so, and other paths pass through.
func TestPath(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "/run/credentials/edged.service")
	for in, want := range map[string]string{
		"$CREDENTIALS_DIRECTORY/mqtt-password": "/run/credentials/edged.service/mqtt-password",
		"/etc/edged/token":                     "/etc/edged/token",
		"":                                     "",
	} {
		if got, err := Path(in); got != want || err != nil {
			t.Errorf("%q → %q, %v; want %q", in, got, err, want)
		}
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	if _, err := Path("$CREDENTIALS_DIRECTORY/x"); !errors.Is(err, ErrNoCredentialsDirectory) {
		t.Errorf("without the variable: %v", err)
	}
}

// Ensure a file a key names is read through the credential directory, and a missing one,
// a directory or one over the limit is a mistake at the key.
func TestReadFileAndFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token"), []byte("tok\n"), 0o600)
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	if b, err := ReadFile("$CREDENTIALS_DIRECTORY/token", 16); err != nil || string(b) != "tok\n" {
		t.Errorf("%q %v", b, err)
	}
	// Readable takes the path as it is: the stage opens it by that path.
	if err := Readable("$CREDENTIALS_DIRECTORY/token", 16); err == nil {
		t.Error("Readable resolved a credential path its stage would not")
	}
	for _, p := range []string{filepath.Join(dir, "missing"), dir} {
		l := NewList(nil)
		if l.File("http.token_file", p, 16) || !strings.HasPrefix(l.Err().Error(), "http.token_file: ") {
			t.Errorf("%s: %v", p, l.Err())
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "token"), 2); err == nil {
		t.Error("limit ignored")
	}
}

// Ensure user information is redacted from anything that looks like a URL, parsable or not,
// and nothing else is changed.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"htps://edge:s3cretPW@127.0.0.1:18849":     "htps://xxxxx@127.0.0.1:18849",
		"tcp://user@h:1883":                        "tcp://xxxxx@h:1883",
		"tcp://a:b@c@h:1883/x?y=z@w":               "tcp://xxxxx@h:1883/x?y=z@w",
		"user:pw@host:1883":                        "xxxxx@host:1883",
		"http://h:5000/path@not-userinfo":          "http://h:5000/path@not-userinfo",
		"mqtts://broker.example:8883":              "mqtts://broker.example:8883",
		"%zz://u:p@h":                              "%zz://xxxxx@h",
		"":                                         "",
		"http://[::1]:5000":                        "http://[::1]:5000",
		"http://u:p%40ss@h/models:/m@champion?a=1": "http://xxxxx@h/models:/m@champion?a=1",
	} {
		if got := RedactURL(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		if HasUserInfo(in) != (want != in) {
			t.Errorf("HasUserInfo(%q) = %v", in, HasUserInfo(in))
		}
	}
}

// Ensure receiver ids are bounded and keep to a safe alphabet, and a huge one is not echoed
// whole.
func TestReceiverID(t *testing.T) {
	for _, ok := range []string{"rx1", "rooftop-1", "edged.demo_2", strings.Repeat("a", MaxReceiverIDBytes)} {
		if err := ReceiverID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "a+b", "a#", "a b", "a:b", "é", "a\x00", strings.Repeat("a", MaxReceiverIDBytes+1)} {
		if err := ReceiverID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ReceiverID(strings.Repeat("r", 1<<20)); err == nil || len(err.Error()) > 200 {
		t.Errorf("huge id: %.300v", err)
	}
}
