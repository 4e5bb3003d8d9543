package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/heimdall/edged/infer"
)

const modelUsage = `usage: edged model <command> [flags]

commands:
  inspect [-contract FILE] MODEL.onnx   print a model's contract, inputs, outputs, opsets, SHA-256
  list [-config FILE]                   models synced from MLflow, the active one marked
  sync [-config FILE]                   poll the registry once and install what it names
  activate [-config FILE] VERSION       make an installed version active (daemon stopped)
  rollback [-config FILE]               go back to the previously active version

Run 'edged model <command> -h' for a command's flags.
`

func runModel(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, modelUsage)
		return errors.New("no model command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Print(modelUsage)
		return nil
	case "inspect":
		return modelInspect(args[1:])
	case "list", "sync", "activate", "rollback":
		return modelSync(args[0], args[1:])
	}
	return fmt.Errorf("unknown model command %q (want inspect, list, sync, activate or rollback)", args[0])
}

func modelInspect(args []string) error {
	fs := newFlags("model inspect", "[-contract FILE] MODEL.onnx")
	contractPath := fs.String("contract", "", "JSON contract `FILE` to check the model against")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: edged model inspect [-contract FILE] MODEL.onnx")
	}
	var c *infer.Contract
	if *contractPath != "" {
		var err error
		if c, err = (infer.ModelConfig{ContractFile: *contractPath}).LoadContract(); err != nil {
			return err
		}
	}
	r, err := infer.Inspect(fs.Arg(0), c)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
