// Package hostile is edged's hostile-input suite. Its tests build the real binary and run
// every hostile case below against it and against a running daemon: model,
// contract, config, recording, metadata and credential files that are devices, FIFOs,
// directories or huge; contracts whose numbers overflow; request bodies that nest, upsample
// or trickle; truncated and garbage databases; hostile registry listings and versions; a
// library planted where a checkout's would be; a symlink planted where the demo recording
// goes; a full disk. Each case must end cleanly (a clear error or a correct answer), never
// crash or hang, and keep the process's peak RSS within 128 MB of idle; the suite logs how
// many cases it tried and how many were handled cleanly.
//
// The package holds no code of its own: only tests.
package hostile
