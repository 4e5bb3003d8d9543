// Command edged is the Heimdall edge daemon: it reads IQ from an RTL-SDR, an rtl_tcp server
// or a recording, computes the spectrogram a model's contract asks for, runs the model with
// ONNX Runtime, and turns each estimate into an uncertainty-ellipse GeoJSON fix that it keeps
// in bbolt and publishes over MQTT.
//
//	capture ──► dsp ──► infer ──► store (bbolt) ──► uplink (MQTT)
//	                      ▲
//	       model sync (MLflow registry, when reachable)
//
// This file only parses the command line and wires packages together; the stages live in
// capture, dsp, infer, store and uplink, and internal/pipeline joins them. Every command
// and subcommand answers -h with its usage and exit status 0.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/heimdall/edged/internal/journal"
)

// exitConfig is EX_CONFIG from sysexits.h: the unit's RestartPreventExitStatus= stops systemd
// from restarting a daemon whose configuration cannot work.
const exitConfig = 78

// configError marks errors the operator must fix in the configuration.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

const usage = `usage: edged <command> [flags] [args]

commands:
  run -config FILE        run the daemon (no -config: the embedded defaults)
  replay [flags] FILE...  run recordings through the pipeline once; fixes on stdout
  synth [flags]           write a synthetic recording with bursts at a reference beacon
  model inspect FILE      print a model's contract, inputs, outputs, opsets and SHA-256
  model list|sync|activate VERSION|rollback [-config FILE] [-json]
                          models synced from MLflow (through the daemon's API while it runs)
  check-config FILE       validate a configuration file as run would (exit 78 if bad)
  reload PID              reload the daemon PID and wait for its answer (the unit's ExecReload)
  devices [-device 0]     open an RTL-SDR and read from it for a second (like rtl_test)
  version [-config FILE]  print edged's version and commit, Go's, and ONNX Runtime's

Run 'edged <command> -h' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "run":
		err = runDaemon(args)
	case "replay":
		err = runReplay(args)
	case "synth":
		err = runSynth(args)
	case "model":
		err = runModel(args)
	case "check-config":
		err = runCheckConfig(args)
	case "reload":
		err = runReload(args)
	case "devices":
		err = runDevices(args)
	case "version", "-version", "--version":
		err = runVersion(args)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "edged: unknown command %q\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return // -h printed the command's usage
	}
	if err != nil {
		// Under systemd this line is the journal's only record of why edged stopped: an error.
		fmt.Fprintf(os.Stderr, "%sedged %s: %v\n", journal.StderrPrefix(), cmd, oneLine(err))
		if errors.As(err, new(configError)) {
			os.Exit(exitConfig)
		}
		os.Exit(1)
	}
}

// oneLine folds a (possibly joined) error onto one line, as the CLI promises.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// newFlags is a command's flag set: -h prints synopsis and the flags (to stderr, as Go's
// flag package does) and the command returns flag.ErrHelp, which exits 0.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edged %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}
