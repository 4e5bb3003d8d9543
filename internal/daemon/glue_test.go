package daemon

import "testing"

// Ensure credential paths resolve through $CREDENTIALS_DIRECTORY and others pass through.
func TestCredentialPath(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "/run/credentials/edged.service")
	for in, want := range map[string]string{
		"$CREDENTIALS_DIRECTORY/mqtt-password": "/run/credentials/edged.service/mqtt-password",
		"/etc/edged/token":                     "/etc/edged/token",
		"":                                     "",
	} {
		if got := CredentialPath(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	if got := CredentialPath("$CREDENTIALS_DIRECTORY/x"); got != "$CREDENTIALS_DIRECTORY/x" {
		t.Errorf("without the variable: %q", got)
	}
}
