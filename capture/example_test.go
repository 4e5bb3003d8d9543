package capture_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/heimdall/edged/capture"
)

// ExampleOpenFile replays a recording whose name says format, centre and rate.
func ExampleOpenFile() {
	dir, _ := os.MkdirTemp("", "capture-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "g001_433.92M_250k.cu8")
	os.WriteFile(path, []byte{255, 0, 128, 127}, 0o644)

	src, err := capture.OpenFile(path, capture.FileOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	info := src.Info()
	fmt.Printf("%s %.0f Hz %.0f S/s\n", info.Format, info.CenterFreqHz, info.SampleRateHz)
	buf := make([]complex64, 16)
	for {
		n, err := src.Read(context.Background(), buf)
		if errors.Is(err, io.EOF) {
			break
		}
		fmt.Println(buf[:n])
	}
	fmt.Printf("%+v\n", src.Stats())
	// Output:
	// cu8 433920000 Hz 250000 S/s
	// [(1-1i) (0.003921569-0.003921569i)]
	// {Delivered:2 Dropped:0 Lost:0 Overload:1}
}
