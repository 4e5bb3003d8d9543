// Package infer runs ONNX models on-device: it reads each model's contract, checks the
// model against it at load time, runs windows of features through ONNX Runtime, turns the
// outputs into position estimates with an east/north covariance in metres, and builds the
// GeoJSON fix. An Engine holds the active model(s) and swaps them without dropping a window.
//
// # Basics
//
// Call Init once with the ONNX Runtime library path, Load a model, then Predict. A Model is
// safe for concurrent use.
//
// # Caveats
//
// ONNX Runtime is a process-wide native library: Init can only succeed once per process with
// one library path.
package infer
