package main

import "fmt"

func modelSync(cmd string, args []string) error {
	return fmt.Errorf("model %s: MLflow sync is not built into this edged yet", cmd)
}
