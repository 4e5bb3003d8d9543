package capture

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/cmplx"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heimdall/edged/configs/safefile"
)

// readAll drains a finite source and returns its samples.
func readAll(t testing.TB, s Source) []complex64 {
	t.Helper()
	var out []complex64
	buf := make([]complex64, 5000) // not a divisor of any file's length, to exercise partial chunks
	for {
		n, err := s.Read(context.Background(), buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
}

// TestOpenFile_RealRecordings replays every IQ recording in the shared corpus with the
// format, rate and centre the MANIFEST gives, from the name where the name says it and from
// options where it does not.
func TestOpenFile_RealRecordings(t *testing.T) {
	dir := iqRealDir(t)
	tests := []struct {
		spec          string // FORMAT: prefix included
		opts          FileOptions
		format        Format
		rateHz        float64
		freqHz        float64 // 0: unknown
		bytes         int64
		freqDefaulted bool
	}{
		{spec: "rtl_433_tests/ec3k/01/gfile002.data", opts: FileOptions{CenterFreqHz: 868.3e6}, format: FormatCU8, rateHz: 250e3, freqHz: 868.3e6, bytes: 131072},
		{spec: "rtl_433_tests/danfoss/CFR/dfile001.data", opts: FileOptions{CenterFreqHz: 868e6}, format: FormatCU8, rateHz: 250e3, freqHz: 868e6, bytes: 131072},
		{spec: "rtl_433_tests/lacrosse/02/gfile003.data", opts: FileOptions{CenterFreqHz: 915e6}, format: FormatCU8, rateHz: 250e3, freqHz: 915e6, bytes: 131072},
		{spec: "rtl_433_tests/dsc/01/gfile001.data", format: FormatCU8, rateHz: 250e3, freqHz: 433.92e6, bytes: 131072, freqDefaulted: true},
		{spec: "rtl_433_tests/fineoffset/01/gfile001.data", format: FormatCU8, rateHz: 250e3, freqHz: 433.92e6, bytes: 131072, freqDefaulted: true},
		{spec: "rtl_433_tests/valeo/01/gfile001.data", format: FormatCU8, rateHz: 250e3, freqHz: 433.92e6, bytes: 131072, freqDefaulted: true},
		{spec: "rtl_433_tests/cresta_ws668/gfile005.data", format: FormatCU8, rateHz: 250e3, freqHz: 433.92e6, bytes: 262144, freqDefaulted: true},
		{spec: "rtl_433_tests/x10/01/record-x10-b1-on-001.data", opts: FileOptions{CenterFreqHz: 310e6}, format: FormatCU8, rateHz: 250e3, freqHz: 310e6, bytes: 393216},
		{spec: "rtl_433/radiohead_ask/03/g002_433.92M_250k.cu8", format: FormatCU8, rateHz: 250e3, freqHz: 433.92e6, bytes: 262144},
		{spec: "rtl_433/g001_433.92M_250k.cu8", format: FormatCU8, rateHz: 250e3, freqHz: 433.92e6, bytes: 524288},
		{spec: "cs16:urh/homematic.complex32s", opts: FileOptions{SampleRateHz: 1e6}, format: FormatCS16, rateHz: 1e6, bytes: 469584},
		{spec: "urh/enocean.complex", opts: FileOptions{SampleRateHz: 5e6}, format: FormatCF32, rateHz: 5e6, bytes: 392800},
		{spec: "urh/ook_overshoot.complex16s", opts: FileOptions{SampleRateHz: 1e6}, format: FormatCS8, rateHz: 1e6, bytes: 623472},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			spec := tc.spec
			if i := strings.LastIndexByte(spec, ':'); i >= 0 {
				spec = spec[:i+1] + filepath.Join(dir, spec[i+1:])
			} else {
				spec = filepath.Join(dir, spec)
			}
			rec, err := ResolveFile(spec, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if rec.FreqDefaulted != tc.freqDefaulted {
				t.Errorf("FreqDefaulted = %v, want %v", rec.FreqDefaulted, tc.freqDefaulted)
			}
			s, err := OpenFile(spec, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			info := s.Info()
			if info.Format != tc.format || info.SampleRateHz != tc.rateHz || info.CenterFreqHz != tc.freqHz || info.Live {
				t.Errorf("Info = %+v, want format %s, rate %v, centre %v, not live", info, tc.format, tc.rateHz, tc.freqHz)
			}
			wantSamples := tc.bytes / int64(tc.format.BytesPerSample())
			if info.TotalSamples != wantSamples {
				t.Errorf("TotalSamples = %d, want %d", info.TotalSamples, wantSamples)
			}
			samples := readAll(t, s)
			if int64(len(samples)) != wantSamples {
				t.Fatalf("replayed %d samples, want %d (%d bytes / %d)", len(samples), wantSamples, tc.bytes, tc.format.BytesPerSample())
			}
			if st := s.Stats(); st.Delivered != uint64(wantSamples) || st.Dropped != 0 || st.Lost != 0 {
				t.Errorf("Stats = %+v, want %d delivered and nothing dropped or lost", st, wantSamples)
			}
			// The samples must be the file's bytes converted, not just the right count.
			raw, err := os.ReadFile(rec.Path)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]complex64, wantSamples)
			if _, _, err := Convert(want, raw, tc.format); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if want[i] != samples[i] && !cmplx.IsNaN(complex128(want[i])) { // cf32 recordings may hold NaN
					t.Fatalf("sample %d = %v, want %v", i, samples[i], want[i])
				}
			}
		})
	}
}

func TestOpenFile_SigMFLogoUnsupported(t *testing.T) {
	dir := iqRealDir(t)
	for _, name := range []string{"sigmf_logo.sigmf-meta", "sigmf_logo.sigmf-data"} {
		p := filepath.Join(dir, "sigmf", name)
		_, err := OpenFile(p, FileOptions{})
		if !errors.Is(err, ErrUnsupportedDatatype) {
			t.Fatalf("OpenFile(%s) err = %v, want ErrUnsupportedDatatype", name, err)
		}
		if msg := err.Error(); !strings.Contains(msg, `"ri16_le"`) || !strings.Contains(msg, "sigmf_logo.sigmf-meta") || strings.Contains(msg, "\n") {
			t.Errorf("error %q should be one line naming the meta file and the datatype", msg)
		}
	}
}

func TestParseSigMFMeta_LogoAndHash(t *testing.T) {
	dir := iqRealDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "sigmf", "sigmf_logo.sigmf-meta"))
	if err != nil {
		t.Fatal(err)
	}
	// Change only the datatype and the channel count to see the rest of the real meta parse.
	fixed := bytes.Replace(raw, []byte(`"ri16_le"`), []byte(`"ci16_le"`), 1)
	_, err = ParseSigMFMeta(fixed)
	if !errors.Is(err, ErrMultiChannel) || !strings.Contains(err.Error(), "2") {
		t.Fatalf("err = %v, want ErrMultiChannel naming 2 channels", err)
	}
	fixed = bytes.Replace(fixed, []byte(`"core:num_channels": 2`), []byte(`"core:num_channels": 1`), 1)
	m, err := ParseSigMFMeta(fixed)
	if err != nil {
		t.Fatal(err)
	}
	wantStart := time.Date(2021, 6, 18, 23, 17, 51, 163959000, time.UTC)
	if m.Format != FormatCS16 || m.SampleRateHz != 48000 || !m.Start.Equal(wantStart) || m.CenterFreqHz != 0 || m.Version != "1.2.0" {
		t.Errorf("meta = %+v", m)
	}
	data, err := os.ReadFile(filepath.Join(dir, "sigmf", "sigmf_logo.sigmf-data"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(data)
	if got := hex.EncodeToString(sum[:]); got != m.SHA512 {
		t.Errorf("core:sha512 %s does not match the data (%s)", m.SHA512, got)
	}
}

// sigmfMeta builds a minimal valid meta document.
func sigmfMeta(datatype string, rateHz, freqHz float64, datetime string) []byte {
	return fmt.Appendf(nil, `{"global":{"core:datatype":%q,"core:sample_rate":%v,"core:version":"1.2.0"},`+
		`"captures":[{"core:sample_start":0,"core:frequency":%v,"core:datetime":%q}],"annotations":[]}`,
		datatype, rateHz, freqHz, datetime)
}

// writeTar writes an archive with the given members in order.
func writeTar(t testing.TB, path string, members ...any) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(members); i += 2 {
		name, body := members[i].(string), members[i+1].([]byte)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOpenFile_SigMFArchiveFromRealCU8 wraps a real cu8 recording in a .sigmf tar with a
// generated meta and replays it in place.
func TestOpenFile_SigMFArchiveFromRealCU8(t *testing.T) {
	dir := iqRealDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "rtl_433", "g001_433.92M_250k.cu8"))
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "skylink.sigmf")
	// A large meta before the data, with a PAX header, so the data offset is not trivial.
	meta := sigmfMeta("cu8", 250000, 433.92e6, "2018-09-06T12:00:00.5Z")
	writeTar(t, archive, "skylink/skylink.sigmf-meta", meta, "skylink/skylink.sigmf-data", data)

	s, err := OpenFile(archive, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info := s.Info()
	if info.Format != FormatCU8 || info.SampleRateHz != 250000 || info.CenterFreqHz != 433.92e6 ||
		!info.Start.Equal(time.Date(2018, 9, 6, 12, 0, 0, 5e8, time.UTC)) || info.TotalSamples != int64(len(data)/2) {
		t.Errorf("Info = %+v", info)
	}
	got := readAll(t, s)
	want := make([]complex64, len(data)/2)
	_, wantOv, _ := Convert(want, data, FormatCU8)
	if len(got) != len(want) {
		t.Fatalf("replayed %d samples, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sample %d = %v, want %v", i, got[i], want[i])
		}
	}
	if ov := s.Stats().Overload; ov != uint64(wantOv) {
		t.Errorf("Overload = %d, want %d", ov, wantOv)
	}
}

func TestOpenFile_SigMFPair(t *testing.T) {
	dir := t.TempDir()
	data := []byte{0, 0x40, 0, 0xc0, 0xff, 0x7f, 0, 0x80} // ci16_le: (0.5,-0.5), (~1,-1)
	if err := os.WriteFile(filepath.Join(dir, "r.sigmf-data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "r.sigmf-meta"), sigmfMeta("ci16_le", 1e6, 868.3e6, "2025-01-01T00:00:00Z"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"r.sigmf-meta", "r.sigmf-data"} {
		s, err := OpenFile(filepath.Join(dir, name), FileOptions{CenterFreqHz: 868.35e6})
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, s)
		s.Close()
		if len(got) != 2 || got[0] != complex(0.5, -0.5) || got[1] != complex(32767.0/32768, -1) {
			t.Errorf("%s: samples %v", name, got)
		}
		if info := s.Info(); info.CenterFreqHz != 868.35e6 || info.SampleRateHz != 1e6 {
			t.Errorf("%s: the -center-freq override must win over the meta: %+v", name, info)
		}
	}
}

// Ensure FileOptions.Start sets the time of sample 0 over SigMF core:datetime and for a raw
// recording that has none, and that OpenRecording opens what ResolveFile resolved.
func TestResolveFile_StartOverride(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "r.sigmf-data"), make([]byte, 8), 0o644)
	os.WriteFile(filepath.Join(dir, "r.sigmf-meta"), sigmfMeta("ci16_le", 1e6, 868.3e6, "2025-01-01T00:00:00Z"), 0o644)
	raw := filepath.Join(dir, "r_433.92M_250k.cu8")
	os.WriteFile(raw, make([]byte, 8), 0o644)
	start := time.Date(2024, 5, 1, 14, 0, 0, 0, time.FixedZone("CEST", 7200))
	for _, path := range []string{filepath.Join(dir, "r.sigmf-meta"), raw} {
		rec, err := ResolveFile(path, FileOptions{Start: start})
		if err != nil {
			t.Fatal(err)
		}
		if !rec.Start.Equal(start) || rec.Start.Location() != time.UTC {
			t.Errorf("%s: start %v, want %v in UTC", path, rec.Start, start)
		}
		s, err := OpenRecording(rec, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if info := s.Info(); !info.Start.Equal(start) || len(readAll(t, s)) == 0 {
			t.Errorf("%s: Info %+v", path, info)
		}
		s.Close()
	}
	if _, err := OpenRecording(Recording{Path: "x"}, FileOptions{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("an unresolved recording: %v", err)
	}
	rec, _ := ResolveFile(raw, FileOptions{})
	if _, err := OpenRecording(rec, FileOptions{Pace: -1}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("pace -1: %v", err)
	}
}

// TestOpenFile_Errors checks that every bad recording gives one clear line naming the file.
func TestOpenFile_Errors(t *testing.T) {
	dir := t.TempDir()
	put := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := put("t_433.92M_250k.cu8", make([]byte, 131073))
	truncated16 := put("t_250k.cs16", make([]byte, 10))
	empty := put("e_250k.cu8", nil)
	unknown := put("recording_250k.wav", make([]byte, 8))
	noRate := put("n_433.92M.cu8", make([]byte, 8))
	contra := put("c_433.92M_868M_250k.cu8", make([]byte, 8))
	put("nodata.sigmf-meta", sigmfMeta("cu8", 250000, 433.92e6, "2025-01-01T00:00:00Z"))
	put("badtype.sigmf-meta", sigmfMeta("ci32_le", 250000, 433.92e6, "2025-01-01T00:00:00Z"))
	put("badtype.sigmf-data", make([]byte, 16))
	put("nometa.sigmf-data", make([]byte, 16))
	put("badjson.sigmf-meta", []byte(`{"global":`))
	put("badjson.sigmf-data", make([]byte, 16))
	put("norate.sigmf-meta", []byte(`{"global":{"core:datatype":"cu8","core:version":"1.2.0"},"captures":[],"annotations":[]}`))
	put("norate.sigmf-data", make([]byte, 16))
	noDataArchive := filepath.Join(dir, "nodata.sigmf")
	writeTar(t, noDataArchive, "x.sigmf-meta", sigmfMeta("cu8", 250000, 1, ""))
	notTar := put("garbage.sigmf", bytes.Repeat([]byte("not a tar "), 100))
	// A FIFO used to block the open until a writer came; a device never ends.
	fifo := filepath.Join(dir, "f_433.92M_250k.cu8")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	fifoMeta := filepath.Join(dir, "fifo.sigmf-meta")
	if err := syscall.Mkfifo(fifoMeta, 0o600); err != nil {
		t.Fatal(err)
	}
	put("fifo.sigmf-data", make([]byte, 16))
	fifoArchive := filepath.Join(dir, "fifo.sigmf")
	if err := syscall.Mkfifo(fifoArchive, 0o600); err != nil {
		t.Fatal(err)
	}
	hugeMeta := put("huge.sigmf-meta", nil)
	if err := os.Truncate(hugeMeta, 1<<30); err != nil {
		t.Fatal(err)
	}
	put("huge.sigmf-data", make([]byte, 16))

	tests := []struct {
		spec    string
		opts    FileOptions
		want    error
		mention []string
	}{
		{truncated, FileOptions{}, ErrTruncated, []string{truncated, "131073 bytes"}},
		{truncated16, FileOptions{}, ErrTruncated, []string{truncated16, "10 bytes", "4 bytes each"}},
		{empty, FileOptions{}, ErrEmptyFile, []string{empty}},
		{unknown, FileOptions{}, ErrUnknownFormat, []string{unknown, ".wav"}},
		{unknown, FileOptions{Format: "cs32"}, ErrUnknownFormat, []string{unknown, "cs32"}},
		{noRate, FileOptions{}, ErrNoSampleRate, []string{noRate, "-sample-rate"}},
		{contra, FileOptions{}, ErrContradictoryName, []string{contra, "433.92M", "868M"}},
		{filepath.Join(dir, "nodata.sigmf-meta"), FileOptions{}, ErrMissingData, []string{"nodata.sigmf-meta", "nodata.sigmf-data"}},
		{filepath.Join(dir, "badtype.sigmf-data"), FileOptions{}, ErrUnsupportedDatatype, []string{"badtype.sigmf-meta", "ci32_le"}},
		{filepath.Join(dir, "nometa.sigmf-data"), FileOptions{}, os.ErrNotExist, []string{"nometa.sigmf-meta"}},
		{filepath.Join(dir, "badjson.sigmf-meta"), FileOptions{}, ErrBadSigMF, []string{"badjson.sigmf-meta"}},
		{filepath.Join(dir, "norate.sigmf-meta"), FileOptions{}, ErrNoSampleRate, []string{"norate.sigmf-meta"}},
		{noDataArchive, FileOptions{}, ErrMissingData, []string{noDataArchive, "no .sigmf-data"}},
		{notTar, FileOptions{}, ErrBadSigMF, []string{notTar}},
		{filepath.Join(dir, "missing_250k.cu8"), FileOptions{}, os.ErrNotExist, []string{"missing_250k.cu8"}},
		{truncated, FileOptions{Pace: -1}, ErrBadConfig, []string{truncated, "pace"}},
		{fifo, FileOptions{}, safefile.ErrNotRegular, []string{fifo, "a FIFO", "rtl_tcp"}},
		{fifoMeta, FileOptions{}, safefile.ErrNotRegular, []string{fifoMeta, "a FIFO"}},
		{fifoArchive, FileOptions{}, safefile.ErrNotRegular, []string{fifoArchive, "a FIFO", "rtl_tcp"}},
		{"cu8:/dev/zero", FileOptions{SampleRateHz: 250000}, safefile.ErrNotRegular, []string{"/dev/zero", "character device", "rtl_tcp"}},
		{hugeMeta, FileOptions{}, ErrBadSigMF, []string{hugeMeta, "1073741824 bytes", "16777216-byte limit"}},
	}
	for _, tc := range tests {
		s, err := OpenFile(tc.spec, tc.opts)
		if err == nil {
			s.Close()
			t.Errorf("OpenFile(%s) succeeded, want %v", tc.spec, tc.want)
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("OpenFile(%s) err = %v, want %v", tc.spec, err, tc.want)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("error is not one line: %q", msg)
		}
		for _, m := range tc.mention {
			if !strings.Contains(msg, m) {
				t.Errorf("OpenFile(%s) err = %q, should mention %q", tc.spec, msg, m)
			}
		}
	}
}

func TestOpenFile_Loop(t *testing.T) {
	p := writeFile(t, "l_250k.cu8", []byte{0, 255, 10, 20, 30, 40})
	s, err := OpenFile(p, FileOptions{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []complex64
	buf := make([]complex64, 2)
	for len(got) < 7 {
		n, err := s.Read(context.Background(), buf)
		if err != nil {
			t.Fatalf("a looping replay must not end: %v", err)
		}
		got = append(got, buf[:n]...)
	}
	if got[0] != got[3] || got[1] != got[4] || got[2] != got[5] || got[0] != got[6] {
		t.Errorf("loop did not restart at sample 0: %v", got)
	}
	if st := s.Stats(); st.Overload < 3 {
		t.Errorf("Overload = %d, want the rail sample counted on every pass", st.Overload)
	}
}

// TestOpenFile_PacedReadStops checks that a real-time replay waiting for its samples' time
// gives way to ctx and to Close.
func TestOpenFile_PacedReadStops(t *testing.T) {
	p := writeFile(t, "p_1k.cu8", make([]byte, 2*4000)) // 4 s at 1 kS/s
	s, err := OpenFile(p, FileOptions{Pace: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Read(ctx, make([]complex64, 4000))
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel = %v, want context.Canceled", err)
	}
	go func() {
		_, err := s.Read(context.Background(), make([]complex64, 4000))
		errc <- err
	}()
	s.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Read during Close = %v, want ErrClosed", err)
	}
}

// BenchmarkFileReplayCU8 measures replay from a (page-cached) file, conversion included.
func BenchmarkFileReplayCU8(b *testing.B) {
	const samples = 1 << 20
	p := writeFile(b, "bench_433.92M_2400k.cu8", bytes.Repeat([]byte{1, 2, 3, 4, 250, 251, 252, 253}, samples/4))
	buf := make([]complex64, 1<<14)
	b.SetBytes(2 * samples)
	for b.Loop() {
		s, err := OpenFile(p, FileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := s.Read(context.Background(), buf)
			if err != nil {
				break
			}
		}
		s.Close()
	}
	b.ReportMetric(float64(b.N)*samples/b.Elapsed().Seconds()/1e6, "MS/s")
}
