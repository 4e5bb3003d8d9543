package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/heimdall/edged/infer"
)

func runModel(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: edged model inspect FILE | list | sync | activate VERSION | rollback")
	}
	switch args[0] {
	case "inspect":
		return modelInspect(args[1:])
	case "list", "sync", "activate", "rollback":
		return modelSync(args[0], args[1:])
	}
	return fmt.Errorf("unknown model command %q (want inspect, list, sync, activate or rollback)", args[0])
}

func modelInspect(args []string) error {
	fs := flag.NewFlagSet("model inspect", flag.ContinueOnError)
	contractPath := fs.String("contract", "", "JSON contract `FILE` to check the model against")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: edged model inspect [-contract FILE] MODEL.onnx")
	}
	var c *infer.Contract
	if *contractPath != "" {
		data, err := os.ReadFile(*contractPath)
		if err != nil {
			return err
		}
		cc, err := infer.ParseContract(data)
		if err != nil {
			return fmt.Errorf("%s: %w", *contractPath, err)
		}
		c = &cc
	}
	r, err := infer.Inspect(fs.Arg(0), c)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
