// Package mlflow is a small client for the MLflow tracking server's REST API:
// the parts a model-sync daemon needs (https://mlflow.org/docs/latest/rest-api.html).
//
// # Basics
//
//	cfg, err := mlflow.ConfigFromEnv() // or fill Config from edged's YAML
//	c, err := mlflow.New(cfg, log)
//	mv, err := c.VersionByAlias(ctx, "edge-detector", "champion")
//	uri, err := c.DownloadURI(ctx, mv.Name, mv.Version)
//	files, err := c.DownloadDir(ctx, uri, stagingDir, maxBytes)
//
// Authentication, TLS and retries follow MLflow's Python client: basic auth
// wins over a bearer token; 408, 429, 500, 502, 503 and 504 (and timeouts and
// refused connections) are retried with exponential backoff and jitter,
// honouring Retry-After up to Config.BackoffMax. Errors are *APIError values
// that match the sentinels in errors.go with errors.Is; a missing alias
// (MLflow's 400) matches both ErrAliasNotFound and ErrNotFound.
//
// Answers are decoded tolerantly: int64 fields as numbers or strings, omitted
// empty fields, unknown fields ignored. Listings that name unsafe paths fail
// with ErrUnsafePath; downloads are checked against the listing's file_size.
//
// # Caveats
//
// Only artifacts served through the tracking server's proxy
// (mlflow-artifacts:/, --serve-artifacts) can be downloaded: s3://, gs://,
// file:// and other direct stores fail with ErrUnsupportedURI. runs:/ URIs
// are resolved through runs/get, not the run artifact listing. Credentials
// go only to the tracking server's own scheme://host:port; an artifact URI
// naming another host is fetched without them (MLflow's client would send them). No checksum
// exists in MLflow; integrity beyond byte counts is the caller's job (see
// infer/modelsync and its edged.sha256 tag).
package mlflow
