package capture

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heimdall/edged/configs/safefile"
)

// FileOptions overrides what a recording's name or metadata says and sets how it replays.
// Zero values mean "from the name or metadata".
type FileOptions struct {
	// Format forces the raw format (the -format flag).
	Format Format
	// SampleRateHz forces the sample rate (the -sample-rate flag).
	SampleRateHz float64
	// CenterFreqHz forces the centre frequency (the -center-freq flag).
	CenterFreqHz float64
	// Start forces the time of sample 0 (the -start-time flag), over SigMF core:datetime.
	Start time.Time
	// Pace is the replay speed: 0 as fast as possible, 1 real time, N N× real time.
	Pace float64
	// Loop restarts the recording at its end instead of returning io.EOF.
	Loop bool
}

// maxSigMFMetaBytes bounds how much of a .sigmf-meta is read; real ones are kilobytes, and a
// bound keeps a wrong file from eating memory.
const maxSigMFMetaBytes = 16 << 20

// fileChunkSamples bounds one Read's file access, so Close and ctx are honoured promptly.
const fileChunkSamples = 1 << 16

// Recording is a resolved recording: where its samples are and what they are.
type Recording struct {
	// Path is the file given, without any FORMAT: prefix.
	Path string
	// Container is how the samples are stored.
	Container Container
	// Format is the raw sample format.
	Format Format
	// SampleRateHz is the sample rate in S/s.
	SampleRateHz float64
	// CenterFreqHz is the centre frequency; 0 when unknown.
	CenterFreqHz float64
	// Start is the time of sample 0 (FileOptions.Start, else SigMF core:datetime); zero when
	// unknown.
	Start time.Time
	// Samples is the number of complex samples the recording holds.
	Samples int64
	// FreqDefaulted and RateDefaulted say the value is rtl_433's default for a .data file
	// whose name gives none, not something the recording stated.
	FreqDefaulted, RateDefaulted bool
	// SigMF is the parsed metadata of a SigMF recording.
	SigMF *SigMFMeta

	dataPath   string
	dataOffset int64
	dataBytes  int64
}

// OpenFile opens a recording for replay: raw I/Q named as rtl_433 names it, a .sigmf-meta
// + .sigmf-data pair (either name), or a .sigmf archive. Every error is one line naming the
// file.
func OpenFile(path string, opts FileOptions) (Source, error) {
	if err := checkPace(path, opts.Pace); err != nil {
		return nil, err
	}
	rec, err := ResolveFile(path, opts)
	if err != nil {
		return nil, err
	}
	return OpenRecording(rec, opts)
}

// OpenRecording opens a recording ResolveFile resolved, replaying it with opts' Pace and Loop
// (its other fields were applied by ResolveFile).
func OpenRecording(rec Recording, opts FileOptions) (Source, error) {
	if err := checkPace(rec.Path, opts.Pace); err != nil {
		return nil, err
	}
	if rec.dataPath == "" {
		return nil, fmt.Errorf("%s: %w: recording not resolved (use ResolveFile)", rec.Path, ErrBadConfig)
	}
	f, _, err := openRegular(rec.dataPath)
	if err != nil {
		return nil, err
	}
	s := &fileSource{
		rec:  rec,
		file: f,
		data: io.NewSectionReader(f, rec.dataOffset, rec.dataBytes),
		bps:  rec.Format.BytesPerSample(),
		pace: opts.Pace,
		loop: opts.Loop,
		info: Info{
			Name:         "file:" + rec.Path,
			CenterFreqHz: rec.CenterFreqHz,
			SampleRateHz: rec.SampleRateHz,
			Start:        rec.Start,
			Format:       rec.Format,
			TotalSamples: rec.Samples,
		},
		life: newLifetime(),
	}
	s.raw = make([]byte, fileChunkSamples*s.bps)
	return s, nil
}

func checkPace(path string, pace float64) error {
	if math.IsNaN(pace) || pace < 0 || math.IsInf(pace, 0) {
		return fmt.Errorf("%s: %w: pace %v must be 0 (as fast as possible) or a positive speed-up", path, ErrBadConfig, pace)
	}
	return nil
}

// ResolveFile works out everything OpenFile needs to know about a recording without reading
// its samples: names, metadata and overrides, sizes and their consistency.
func ResolveFile(path string, opts FileOptions) (Recording, error) {
	if opts.Format != "" && !opts.Format.Valid() {
		return Recording{}, fmt.Errorf("%s: %w %q (want cu8, cs8, cs16 or cf32)", path, ErrUnknownFormat, string(opts.Format))
	}
	if opts.SampleRateHz < 0 || math.IsNaN(opts.SampleRateHz) || math.IsInf(opts.SampleRateHz, 0) {
		return Recording{}, fmt.Errorf("%s: %w: sample rate %v", path, ErrBadConfig, opts.SampleRateHz)
	}
	if math.IsNaN(opts.CenterFreqHz) || math.IsInf(opts.CenterFreqHz, 0) {
		return Recording{}, fmt.Errorf("%s: %w: centre frequency %v", path, ErrBadConfig, opts.CenterFreqHz)
	}
	m, err := parseName(path)
	if err != nil {
		return Recording{}, err
	}
	rec := Recording{Path: m.Path, Container: m.Container}
	switch m.Container {
	case ContainerRaw:
		rec.Format, rec.SampleRateHz, rec.CenterFreqHz = m.Format, m.SampleRateHz, m.CenterFreqHz
		rec.FreqDefaulted, rec.RateDefaulted = m.FreqDefaulted, m.RateDefaulted
		rec.dataPath = m.Path
		fi, err := statRegular(m.Path)
		if err != nil {
			return Recording{}, err
		}
		rec.dataBytes = fi.Size()
	case ContainerSigMF:
		if err := resolveSigMFPair(&rec); err != nil {
			return Recording{}, err
		}
	case ContainerSigMFArchive:
		if err := resolveSigMFArchive(&rec); err != nil {
			return Recording{}, err
		}
	}

	if opts.Format != "" {
		rec.Format = opts.Format
	}
	if opts.SampleRateHz > 0 {
		rec.SampleRateHz, rec.RateDefaulted = opts.SampleRateHz, false
	}
	if opts.CenterFreqHz != 0 {
		rec.CenterFreqHz, rec.FreqDefaulted = opts.CenterFreqHz, false
	}
	if !opts.Start.IsZero() {
		rec.Start = opts.Start.UTC()
	}
	if rec.Format == "" {
		return Recording{}, fmt.Errorf("%s: %w: extension %q is not cu8, cs8, cs16, cf32, .data, .complex16u, .complex16s, .cfile, .complex or .sigmf (force one with a FORMAT: prefix or -format)",
			rec.Path, ErrUnknownFormat, filepath.Ext(rec.Path))
	}
	if rec.SampleRateHz == 0 {
		return Recording{}, fmt.Errorf("%s: %w", rec.Path, ErrNoSampleRate)
	}
	bps := int64(rec.Format.BytesPerSample())
	if rec.dataBytes == 0 {
		return Recording{}, fmt.Errorf("%s: %w (0 bytes)", rec.Path, ErrEmptyFile)
	}
	if rec.dataBytes%bps != 0 {
		return Recording{}, fmt.Errorf("%s: %d bytes: %w (%s samples are %d bytes each)", rec.Path, rec.dataBytes, ErrTruncated, rec.Format, bps)
	}
	rec.Samples = rec.dataBytes / bps
	return rec, nil
}

// statRegular stats a file that must be a regular file (see openRegular).
func statRegular(path string) (os.FileInfo, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	f.Close()
	return fi, nil
}

// openRegular opens a recording without blocking and refuses anything but a regular file: a
// FIFO would block the open until a writer came, and a device never ends. Replay reads
// recordings; live IQ streams over the rtl_tcp protocol (source kind rtl_tcp), which is the
// documented way to feed edged from another program, and the error says so.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, fi, err := safefile.Open(path, math.MaxInt64)
	if errors.Is(err, safefile.ErrNotRegular) {
		return nil, nil, fmt.Errorf("%w: a recording must be a regular file; to stream live IQ, serve it over rtl_tcp (source kind rtl_tcp)", err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open recording: %w", err)
	}
	return f, fi, nil
}

// resolveSigMFPair reads a .sigmf-meta and finds its .sigmf-data, given either name.
func resolveSigMFPair(rec *Recording) error {
	base := strings.TrimSuffix(rec.Path, filepath.Ext(rec.Path))
	metaPath, dataPath := base+".sigmf-meta", base+".sigmf-data"
	raw, err := readLimited(metaPath)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: SigMF metadata missing: %w", rec.Path, err)
	}
	if err != nil {
		return fmt.Errorf("%s: SigMF metadata: %w", rec.Path, err)
	}
	meta, err := ParseSigMFMeta(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", metaPath, err)
	}
	if _, err := os.Stat(dataPath); err != nil {
		return fmt.Errorf("%s: %w: %s: %w", metaPath, ErrMissingData, filepath.Base(dataPath), unwrapPathError(err))
	}
	fi, err := statRegular(dataPath)
	if err != nil {
		return err
	}
	rec.applySigMF(meta)
	rec.dataPath, rec.dataBytes = dataPath, fi.Size()
	return nil
}

// resolveSigMFArchive finds the one meta and data member of a .sigmf tar archive and where
// the data lies in the file, so samples are read in place.
func resolveSigMFArchive(rec *Recording) error {
	f, _, err := openRegular(rec.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var (
		meta                  []byte
		metaName, dataName    string
		dataOffset, dataBytes int64
	)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w: not a readable tar archive: %w", rec.Path, ErrBadSigMF, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		switch {
		case strings.HasSuffix(h.Name, ".sigmf-meta"):
			if metaName != "" {
				return fmt.Errorf("%s: archive holds more than one recording (%s, %s); edged reads one", rec.Path, metaName, h.Name)
			}
			if h.Size > maxSigMFMetaBytes {
				return fmt.Errorf("%s: %s: %w: %d bytes is too large for metadata", rec.Path, h.Name, ErrBadSigMF, h.Size)
			}
			if meta, err = io.ReadAll(tr); err != nil {
				return fmt.Errorf("%s: %s: %w", rec.Path, h.Name, err)
			}
			metaName = h.Name
		case strings.HasSuffix(h.Name, ".sigmf-data"):
			if dataName != "" {
				return fmt.Errorf("%s: archive holds more than one recording (%s, %s); edged reads one", rec.Path, dataName, h.Name)
			}
			// tar.Reader reads headers block by block and no further, so the file offset now
			// is where this member's bytes start.
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return fmt.Errorf("%s: %w", rec.Path, err)
			}
			dataName, dataOffset, dataBytes = h.Name, off, h.Size
		}
	}
	if metaName == "" {
		return fmt.Errorf("%s: SigMF archive has no .sigmf-meta member: %w", rec.Path, ErrBadSigMF)
	}
	m, err := ParseSigMFMeta(meta)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", rec.Path, metaName, err)
	}
	if dataName == "" {
		return fmt.Errorf("%s: %w: archive has no .sigmf-data member", rec.Path, ErrMissingData)
	}
	if strings.TrimSuffix(metaName, ".sigmf-meta") != strings.TrimSuffix(dataName, ".sigmf-data") {
		return fmt.Errorf("%s: %w: meta %s and data %s do not pair", rec.Path, ErrMissingData, metaName, dataName)
	}
	rec.applySigMF(m)
	rec.dataPath, rec.dataOffset, rec.dataBytes = rec.Path, dataOffset, dataBytes
	return nil
}

// applySigMF copies what SigMF metadata says into the recording.
func (rec *Recording) applySigMF(m SigMFMeta) {
	rec.SigMF = &m
	rec.Format, rec.SampleRateHz, rec.CenterFreqHz, rec.Start = m.Format, m.SampleRateHz, m.CenterFreqHz, m.Start
}

// readLimited reads a small file whole, refusing one too large to be metadata.
func readLimited(path string) ([]byte, error) {
	b, err := safefile.Read(path, maxSigMFMetaBytes)
	if errors.Is(err, safefile.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrBadSigMF, err)
	}
	return b, err
}

// unwrapPathError drops the *PathError's own path, for messages that name the file already.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileSource replays a recording.
type fileSource struct {
	rec  Recording
	info Info
	file *os.File
	data *io.SectionReader
	bps  int
	raw  []byte
	pace float64
	loop bool

	// paceStart and paced anchor real-time pacing: sample k is due at paceStart+k/(rate*pace).
	paceStart time.Time
	paced     uint64

	stats  counters
	closed atomic.Bool
	life   lifetime
}

func (s *fileSource) Info() Info   { return s.info }
func (s *fileSource) Stats() Stats { return s.stats.snapshot() }

// Close closes the file; a Read blocked in pacing returns ErrClosed.
func (s *fileSource) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.life.end()
	return s.file.Close()
}

// Read decodes the next samples of the recording.
func (s *fileSource) Read(ctx context.Context, buf []complex64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, ErrClosed
	}
	if len(buf) == 0 {
		return 0, nil
	}
	want := min(len(buf), fileChunkSamples) * s.bps
	got, err := io.ReadFull(s.data, s.raw[:want])
	if got == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		if !s.loop {
			return 0, io.EOF
		}
		if _, err := s.data.Seek(0, io.SeekStart); err != nil {
			return 0, fmt.Errorf("%s: rewind: %w", s.rec.Path, err)
		}
		got, err = io.ReadFull(s.data, s.raw[:want])
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		if s.closed.Load() {
			return 0, ErrClosed
		}
		return 0, fmt.Errorf("%s: %w", s.rec.Path, err)
	}
	if got%s.bps != 0 {
		// The size was whole at open; a partial sample now means the file changed under us.
		return 0, fmt.Errorf("%s: %w (file changed during replay)", s.rec.Path, ErrTruncated)
	}
	n, ov, _ := Convert(buf, s.raw[:got], s.rec.Format)
	if err := s.waitPace(ctx, n); err != nil {
		return 0, err
	}
	s.stats.delivered.Add(uint64(n))
	s.stats.overload.Add(uint64(ov))
	return n, nil
}

// waitPace holds n samples back until real time (times the pace) catches up with them.
func (s *fileSource) waitPace(ctx context.Context, n int) error {
	if s.pace == 0 {
		return nil
	}
	now := time.Now()
	if s.paceStart.IsZero() {
		s.paceStart = now
	}
	s.paced += uint64(n)
	due := s.paceStart.Add(time.Duration(float64(s.paced) / (s.info.SampleRateHz * s.pace) * float64(time.Second)))
	wait := due.Sub(now)
	if wait <= 0 {
		return nil
	}
	return s.life.sleep(ctx, wait)
}
