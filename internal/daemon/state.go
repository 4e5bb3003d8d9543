package daemon

import (
	"fmt"
	"os"

	"github.com/heimdall/edged/configs"
)

// StateDirMode is the state directory's mode when edged creates it: the store and the
// models are the service's own (the unit's StateDirectoryMode is stricter still).
const StateDirMode = 0o750

// StateDir creates the state directory, parents included, as `edged run` does, and returns
// it with the path of the bbolt store (configs.Config.StorePath). The `edged model` commands
// call it too, so that they work on a host where the daemon never ran.
func StateDir(cfg configs.Config) (dir, dbPath string, err error) {
	dir = cfg.ResolvedStateDir()
	if err := os.MkdirAll(dir, StateDirMode); err != nil {
		return "", "", fmt.Errorf("state_dir: %w", err)
	}
	return dir, cfg.StorePath(), nil
}
