package uplink

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/store"
)

// Ensure that Validate refuses bad configs with a message naming the key, and never shows
// a password in a broker URL.
func TestValidate(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "password")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	good := testConfig("tcp://127.0.0.1:1883")
	good.Username, good.PasswordFile = "u", pw
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if c := good.withDefaults(); c.ClientID != "edged-rx1" || c.Prefix != "heimdall" || c.QoS != 1 || c.Inflight != 64 {
		t.Fatalf("defaults: %+v", c)
	}
	cases := map[string]struct {
		mod  func(*Config)
		want string
	}{
		"scheme":         {func(c *Config) { c.Broker = "http://x" }, "scheme"},
		"no host":        {func(c *Config) { c.Broker = "tcp://:1883" }, "no host"},
		"no receiver":    {func(c *Config) { c.ReceiverID = "" }, "receiver_id"},
		"wildcard rx":    {func(c *Config) { c.ReceiverID = "a+b" }, "receiver_id"},
		"slash prefix":   {func(c *Config) { c.Prefix = "heimdall/" }, "prefix"},
		"qos":            {func(c *Config) { c.QoS = 3 }, "qos"},
		"plain password": {func(c *Config) { c.Password = "hunter2" }, "password_file or password_env"},
		"both secrets":   {func(c *Config) { c.PasswordEnv = "X" }, "not both"},
		"no username":    {func(c *Config) { c.Username = "" }, "username"},
		"tls on tcp":     {func(c *Config) { c.TLS.CAFile = "ca.pem" }, "not ssl://"},
		"cert no key": {func(c *Config) {
			c.Broker = "mqtts://h"
			c.TLS.CertFile = "c.pem"
		}, "key_file"},
		"inflight":      {func(c *Config) { c.Inflight = -1 }, "inflight"},
		"backoff":       {func(c *Config) { c.ReconnectMaxMs = 10 }, "reconnect_max_ms"},
		"missing file":  {func(c *Config) { c.PasswordFile = "/nonexistent/password" }, "password_file: open /nonexistent/password"},
		"no CA":         {func(c *Config) { c.Broker, c.TLS.CAFile = "mqtts://h", "/nonexistent/ca.pem" }, "tls.ca_file: open /nonexistent/ca.pem"},
		"url password":  {func(c *Config) { c.Broker = "tcp://edge:s3cretPW@h:1883" }, `broker: "tcp://xxxxx@h:1883": credentials in the URL are refused`},
		"bad url":       {func(c *Config) { c.Broker = "tcp://edge:s3cretPW@h:x%zz" }, `"tcp://xxxxx@h:x%zz"`},
		"keepalive":     {func(c *Config) { c.KeepaliveSeconds = -1 }, "keepalive_seconds: -1"},
		"huge receiver": {func(c *Config) { c.ReceiverID = strings.Repeat("r", 1<<20) }, "receiver_id"},
	}
	for name, tc := range cases {
		c := good
		tc.mod(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: err = %.300v, want ErrInvalidConfig mentioning %q and no password", name, err, tc.want)
		}
	}
}

// Ensure that New reads secrets and TLS files and names the broken one.
func TestNewReadsFiles(t *testing.T) {
	db := openDB(t, store.Options{})
	c := testConfig("tcp://127.0.0.1:1")
	c.Username, c.PasswordFile = "u", filepath.Join(t.TempDir(), "missing")
	if _, err := New(c, db, nil); err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("missing password file: %v", err)
	}
	c.PasswordFile, c.PasswordEnv = "", "EDGED_TEST_UNSET_PASSWORD_VAR"
	if _, err := New(c, db, nil); err == nil || !strings.Contains(err.Error(), "EDGED_TEST_UNSET_PASSWORD_VAR") {
		t.Errorf("unset env: %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	c = testConfig("mqtts://127.0.0.1")
	c.TLS.CAFile = notPEM
	if _, err := New(c, db, nil); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("CA file without PEM: %v", err)
	}
}

// Ensure that fixes committed before and after Run starts arrive in order, one per
// message, are removed from the outbox once acknowledged, and that availability and
// model are published retained and offline on shutdown.
func TestDrainInOrderWithAvailabilityAndModel(t *testing.T) {
	for _, qos := range []int{0, 1, 2} {
		t.Run("qos="+string(rune('0'+qos)), func(t *testing.T) {
			b := mosquittotest.Start(t, mosquittotest.Options{})
			db := openDB(t, store.Options{})
			sub := subscribe(t, b.URL(), false)
			commit(t, db, fixes(0, 300))
			cfg := testConfig(b.URL())
			cfg.QoS = qos
			cfg.Inflight = 16
			w := watch(db)
			up := startUplink(t, cfg, w, nil)
			for i := 300; i < 600; i += 50 {
				commit(t, db, fixes(i, 50))
				up.Notify()
			}
			sub.waitFor("600 fixes", 30*time.Second, func() bool { return len(sub.fixes) >= 600 })
			sub.mu.Lock()
			if dups := checkOrder(t, sub.fixes, seq(0, 600), cfg.Inflight); dups != 0 {
				t.Errorf("%d duplicates without any reconnect", dups)
			}
			sub.mu.Unlock()
			// Acknowledged fixes leave the outbox (the last acks may still be on their way).
			w.waitLen(t, 0, 30*time.Second)
			info := ModelInfo{Name: "beacons", Version: "3", SHA256: strings.Repeat("ab", 32), Since: t0}
			if err := up.PublishModel(info); err != nil {
				t.Fatal(err)
			}
			sub.waitFor("model", 10*time.Second, func() bool { return len(sub.model) > 0 })
			var got ModelInfo
			if err := json.Unmarshal([]byte(sub.model[0]), &got); err != nil || got != info {
				t.Fatalf("model payload %s: %v", sub.model[0], err)
			}
			st := up.Stats()
			if !up.Connected() || !st.Connected || st.Connects != 1 || st.Published != 600 || st.OutboxCount != 0 {
				t.Fatalf("stats %+v", st)
			}
			up.stop(t)
			sub.waitFor("offline", 10*time.Second, func() bool { return len(sub.avail) > 0 && sub.avail[len(sub.avail)-1] == "offline" })
			if sub.avail[0] != "online" || up.Connected() {
				t.Fatalf("availability %v, connected %v", sub.avail, up.Connected())
			}
			if n, _ := db.OutboxLen(); n != 0 {
				t.Fatalf("after a clean stop the outbox holds %d fixes", n)
			}
			// A consumer arriving later sees the retained state.
			late := subscribe(t, b.URL(), false)
			late.waitFor("retained availability and model", 10*time.Second, func() bool {
				return len(late.avail) == 1 && late.avail[0] == "offline" && len(late.model) == 1
			})
		})
	}
}

// Ensure that when the connection drops under load (the broker stays up) the broker
// publishes the will "offline", the uplink reconnects, says "online" again, re-publishes
// its model, and every fix arrives with duplicates only inside the in-flight window.
func TestConnectionDropWillAndRedelivery(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	p := newProxy(t, b)
	db := openDB(t, store.Options{})
	sub := subscribe(t, b.URL(), false)
	cfg := testConfig(p.url())
	up := startUplink(t, cfg, db, nil)
	if err := up.PublishModel(ModelInfo{Name: "m", Version: "1"}); err != nil {
		t.Fatal(err)
	}
	commit(t, db, fixes(0, 2000))
	up.Notify()
	sub.waitFor("some fixes", 20*time.Second, func() bool { return len(sub.fixes) >= 300 })
	p.cut()
	sub.waitFor("will offline", 10*time.Second, func() bool { return strings.Contains(strings.Join(sub.avail, ","), "online,offline") })
	commit(t, db, fixes(2000, 500))
	up.Notify()
	sub.waitFor("online again", 20*time.Second, func() bool {
		return strings.Contains(strings.Join(sub.avail, ","), "online,offline,online")
	})
	sub.waitFor("all fixes", 30*time.Second, func() bool { return sub.distinct() >= 2500 })
	sub.mu.Lock()
	dups := checkOrder(t, sub.fixes, seq(0, 2500), cfg.Inflight)
	models := len(sub.model)
	sub.mu.Unlock()
	t.Logf("%d duplicates after one dropped connection", dups)
	if models < 2 {
		t.Errorf("model published %d times, want again after the reconnect", models)
	}
	st := up.Stats()
	if st.Connects < 2 || st.ConnectionLosses < 1 {
		t.Errorf("stats %+v", st)
	}
}

// Ensure that an entry leaves the outbox only after its PUBACK, that no more than
// Inflight fixes are published without one, and that the unacknowledged ones are sent
// again, same id, after a reconnect.
func TestDeleteOnlyAfterPuback(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	p := newProxy(t, b)
	db := watch(openDB(t, store.Options{}))
	sub := subscribe(t, b.URL(), false)
	cfg := testConfig(p.url())
	cfg.Inflight = 16
	rec := newLogRecorder()
	up := startUplink(t, cfg, db, slog.New(rec))
	rec.waitLogs(t, 1, slog.LevelInfo, "uplink: connected", 10*time.Second) // "online" acknowledged
	p.swallow.Store(true)                                                   // the broker gets our PUBLISHes; we never see its PUBACKs
	commit(t, db.DB, fixes(0, 100))
	up.Notify()
	sub.waitFor("a window of fixes", 10*time.Second, func() bool { return len(sub.fixes) >= 16 })
	if n, _ := db.OutboxLen(); n != 100 {
		t.Fatalf("outbox holds %d fixes, want all 100: entries left without a PUBACK", n)
	}
	if st := up.Stats(); st.Inflight != 16 || st.Published != 0 {
		t.Fatalf("stats %+v, want 16 in flight and none published", st)
	}
	sub.mu.Lock()
	if len(sub.fixes) != 16 {
		t.Errorf("%d fixes published without PUBACKs, window is 16", len(sub.fixes))
	}
	sub.mu.Unlock()
	p.swallow.Store(false)
	p.cut()
	sub.waitFor("all 100", 20*time.Second, func() bool { return sub.distinct() >= 100 })
	db.waitLen(t, 0, 20*time.Second)
	sub.mu.Lock()
	dups := checkOrder(t, sub.fixes, seq(0, 100), cfg.Inflight)
	sub.mu.Unlock()
	if dups != 16 {
		t.Errorf("%d duplicates, want the 16 that were never acknowledged", dups)
	}
	// The 16 were cut off by the dropped connection: counted as lost publishes, not as
	// errors, and the loss is logged with paho's reason.
	if st := up.Stats(); st.PublishesLost != 16 || st.PublishErrors != 0 {
		t.Errorf("PublishesLost %d, PublishErrors %d; want 16 and 0", st.PublishesLost, st.PublishErrors)
	}
	rs := rec.waitLogs(t, 1, slog.LevelWarn, "connection lost", 10*time.Second)
	if e := attr(rs[0], "err").String(); !strings.HasPrefix(e, ErrConnectionLost.Error()+": ") || attr(rs[0], "unacknowledged").Int64() != 16 {
		t.Errorf("connection-loss log err=%q unacknowledged=%v, want the cause and 16", e, attr(rs[0], "unacknowledged"))
	}
}

// Ensure that a broker whose certificate comes from another CA is refused, retried and
// counted, and that the right CA with a client certificate works.
func TestTLSWrongCARefused(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{TLS: true, RequireClientCert: true})
	certs := b.Certs()
	db := openDB(t, store.Options{})
	rec := newLogRecorder()
	cfg := testConfig(b.TLSURL())
	cfg.TLS = TLSConfig{CAFile: certs.OtherCAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile}
	up := startUplink(t, cfg, db, slog.New(rec))
	rs := rec.waitLogs(t, 3, slog.LevelWarn, "connect failed", 20*time.Second)
	if r := attr(rs[0], "reason").String(); r != ReasonTLS {
		t.Errorf("reason %q, want %q", r, ReasonTLS)
	}
	st := up.Stats()
	if st.ConnectFailures[ReasonTLS] < 3 || !strings.Contains(st.LastConnectError, "unknown authority") || st.Connected {
		t.Fatalf("stats %+v", st)
	}
	up.stop(t)

	cfg.TLS.CAFile = certs.CAFile
	sub := subscribe(t, b.URL(), false)
	commit(t, db, fixes(0, 10))
	startUplink(t, cfg, db, nil)
	sub.waitFor("10 fixes over TLS", 20*time.Second, func() bool { return len(sub.fixes) >= 10 })
}

// Ensure that insecure_skip_verify connects without a CA and warns at every connect.
func TestTLSInsecureWarns(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{TLS: true})
	db := openDB(t, store.Options{})
	rec := newLogRecorder()
	cfg := testConfig(b.TLSURL())
	cfg.TLS.InsecureSkipVerify = true
	up := startUplink(t, cfg, db, slog.New(rec))
	rec.waitLogs(t, 1, slog.LevelInfo, "connected", 20*time.Second)
	if len(rec.matching(slog.LevelWarn, "verification is OFF")) < 1 {
		t.Fatal("no Warn about insecure_skip_verify at connect")
	}
	b.Restart()
	rec.waitLogs(t, 2, slog.LevelInfo, "connected", 20*time.Second)
	if n := len(rec.matching(slog.LevelWarn, "verification is OFF")); n < 2 {
		t.Fatalf("%d insecure warnings after 2 connects", n)
	}
	up.stop(t)
}

// Ensure that a wrong password gives a clear error, is retried with growing delays and is
// counted, and that the right password from a file or env connects.
func TestWrongPassword(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"edge": "right"}})
	db := openDB(t, store.Options{})
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("wrong\n"), 0o600)
	rec := newLogRecorder()
	cfg := testConfig(b.URL())
	cfg.Username, cfg.PasswordFile = "edge", pw
	up := startUplink(t, cfg, db, slog.New(rec))
	rs := rec.waitLogs(t, 4, slog.LevelWarn, "connect failed", 20*time.Second)
	for i, r := range rs[:4] {
		if got := attr(r, "reason").String(); got != ReasonNotAuthorised {
			t.Fatalf("failure %d reason %q", i, got)
		}
	}
	// Backoff doubles from 50 ms with ±20% jitter: the third wait is always longer than
	// the first.
	w0, w2 := attr(rs[0], "retry_in").Duration(), attr(rs[2], "retry_in").Duration()
	if !(w2 > w0) {
		t.Errorf("retry delays %v then %v: not backing off", w0, w2)
	}
	st := up.Stats()
	if st.ConnectFailures[ReasonNotAuthorised] < 4 || !strings.Contains(st.LastConnectError, "not authorised") || st.Connected {
		t.Fatalf("stats %+v", st)
	}
	up.stop(t)

	t.Setenv("EDGED_TEST_MQTT_PASSWORD", "right")
	cfg.PasswordFile, cfg.PasswordEnv = "", "EDGED_TEST_MQTT_PASSWORD"
	rec2 := newLogRecorder()
	up2 := startUplink(t, cfg, db, slog.New(rec2))
	rec2.waitLogs(t, 1, slog.LevelInfo, "connected", 20*time.Second)
	if !up2.Connected() {
		t.Fatal("not connected with the right password")
	}
}

// Ensure that a full outbox drops the oldest fixes first, counts them, and that
// everything else is delivered.
func TestFullOutboxDropsOldest(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	db := openDB(t, store.Options{OutboxMaxCount: 40})
	for i := 0; i < 100; i += 10 { // the broker is "down": nobody drains
		commit(t, db, fixes(i, 10))
	}
	sub := subscribe(t, b.URL(), false)
	up := startUplink(t, testConfig(b.URL()), db, nil)
	sub.waitFor("40 fixes", 20*time.Second, func() bool { return len(sub.fixes) >= 40 })
	sub.mu.Lock()
	checkOrder(t, sub.fixes, seq(60, 40), 64)
	sub.mu.Unlock()
	if st := up.Stats(); st.Dropped != 60 {
		t.Fatalf("Stats.Dropped = %d, want 60", st.Dropped)
	}
}
