// Package mlflowtest is a fake MLflow tracking server for tests. It answers
// the registry, run, logged-model and proxied-artifact routes as an MLflow
// 2.x/3.x server serializes them (https://mlflow.org/docs/latest/rest-api.html), and has switches
// for faults.
package mlflowtest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"
)

// Layout says where a version's files live, as the two MLflow generations
// store them.
type Layout int

const (
	// Layout2x stores files as run artifacts under
	// mlflow-artifacts:/1/<run>/artifacts/model; source is that URI.
	Layout2x Layout = iota
	// Layout3x stores files in a logged model, mlflow-artifacts:/1/models/m-<hex>/artifacts;
	// source is models:/m-<hex>.
	Layout3x
)

// Route names a group of endpoints for fault switches and hit counts.
type Route string

// Routes the fake serves.
const (
	RouteRegisteredModel = Route("/api/2.0/mlflow/registered-models/get")
	RouteLatestVersions  = Route("/api/2.0/mlflow/registered-models/get-latest-versions")
	RouteAlias           = Route("/api/2.0/mlflow/registered-models/alias")
	RouteGetVersion      = Route("/api/2.0/mlflow/model-versions/get")
	RouteSearch          = Route("/api/2.0/mlflow/model-versions/search")
	RouteDownloadURI     = Route("/api/2.0/mlflow/model-versions/get-download-uri")
	RouteRunsGet         = Route("/api/2.0/mlflow/runs/get")
	RouteRunArtifacts    = Route("/api/2.0/mlflow/artifacts/list")
	RouteLoggedModel     = Route("/api/2.0/mlflow/logged-models/")
	RouteArtifactList    = Route("/api/2.0/mlflow-artifacts/artifacts")
	RouteArtifactFile    = Route("/api/2.0/mlflow-artifacts/artifacts/")
	RouteHealth          = Route("/health")
)

// Version describes one version to add with AddVersion.
type Version struct {
	// Files maps slash-separated paths inside the model directory to bytes.
	Files  map[string][]byte
	Layout Layout
	// Stage defaults to "None", Status to "READY".
	Stage  string
	Status string
	Tags   map[string]string
	// RunID and ModelID ("m-" + 32 hex) fix the otherwise random IDs, and
	// CreatedMs/UpdatedMs the otherwise ticking clock, for byte-exact fixtures.
	RunID, ModelID       string
	CreatedMs, UpdatedMs int64
}

// MLmodel is the MLmodel file mlflow.onnx.log_model writes beside an ONNX model of size
// bytes.
func MLmodel(size int) []byte {
	return fmt.Appendf(nil, `artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.12.0
mlflow_version: 2.14.1
model_size_bytes: %d
`, size)
}

// ONNXVersion is a version as mlflow.onnx logs one, model.onnx and its MLmodel, tagged with
// the model's SHA-256 (edged.sha256) as edged requires by default.
func ONNXVersion(model []byte) Version {
	sum := sha256.Sum256(model)
	return Version{
		Files: map[string][]byte{"model.onnx": model, "MLmodel": MLmodel(len(model))},
		Tags:  map[string]string{"edged.sha256": hex.EncodeToString(sum[:])},
	}
}

type modelVersion struct {
	number  int
	stage   string
	status  string
	source  string
	storage string // get-download-uri answer
	runID   string
	tags    [][2]string
	created int64
	updated int64
}

type registeredModel struct {
	name     string
	created  int64
	updated  int64
	versions map[int]*modelVersion
	aliases  map[string]int
}

type fault struct {
	status int
	hang   bool
	left   int // remaining failures; <0 = until cleared
}

// Server is the fake. Zero faults means it behaves like a healthy MLflow
// 2.x/3.x server started with --serve-artifacts.
type Server struct {
	// URL is the tracking URI to give the client.
	URL string

	srv     *httptest.Server
	closing chan struct{}

	mu         sync.Mutex
	clock      int64
	models     map[string]*registeredModel
	runs       map[string]string // run id -> artifact_uri
	logged     map[string]loggedModel
	artifacts  map[string][]byte // proxied path ("1/<run>/artifacts/model/MLmodel") -> bytes
	faults     map[Route]*fault
	truncateAt int // bytes of each download before the connection is cut; <0 = off
	user, pass string
	token      string
	overrides  map[Route]http.HandlerFunc
	hits       map[Route]int
	pageSize   int
}

type loggedModel struct {
	id, runID, artifactURI string
	created                int64
}

// New starts a fake server over plain HTTP; it is closed when the test ends.
func New(tb testing.TB) *Server { tb.Helper(); return start(tb, false) }

// NewTLS starts a fake server over HTTPS with a self-signed certificate
// (CertPEM returns it, for ServerCertPath tests).
func NewTLS(tb testing.TB) *Server { tb.Helper(); return start(tb, true) }

// CertPEM returns the TLS server's certificate in PEM, or nil over plain HTTP.
func (s *Server) CertPEM() []byte {
	if s.srv.Certificate() == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

func start(tb testing.TB, useTLS bool) *Server {
	s := &Server{
		closing:    make(chan struct{}),
		clock:      1718000000000,
		models:     map[string]*registeredModel{},
		runs:       map[string]string{},
		logged:     map[string]loggedModel{},
		artifacts:  map[string][]byte{},
		faults:     map[Route]*fault{},
		overrides:  map[Route]http.HandlerFunc{},
		hits:       map[Route]int{},
		truncateAt: -1,
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Handshakes refused by clients under test are expected, not news.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	s.URL = s.srv.URL
	tb.Cleanup(s.Close)
	return s
}

// Close unblocks hanging handlers and stops the server. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closing:
		s.mu.Unlock()
		return
	default:
		close(s.closing)
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

func (s *Server) tick() int64 { s.clock += 1000; return s.clock }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateModel registers an empty model (AddVersion creates it when missing).
func (s *Server) CreateModel(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.model(name)
}

func (s *Server) model(name string) *registeredModel {
	m := s.models[name]
	if m == nil {
		t := s.tick()
		m = &registeredModel{name: name, created: t, updated: t, versions: map[int]*modelVersion{}, aliases: map[string]int{}}
		s.models[name] = m
	}
	return m
}

// AddVersion adds the next version of name with its files stored in the
// chosen layout and returns its number as a string ("1", "2", …).
func (s *Server) AddVersion(name string, v Version) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.model(name)
	n := 1
	for k := range m.versions {
		n = max(n, k+1)
	}
	runID := v.RunID
	if runID == "" {
		runID = randHex(16)
	}
	s.runs[runID] = "mlflow-artifacts:/1/" + runID + "/artifacts"
	mv := &modelVersion{number: n, stage: "None", status: "READY", runID: runID}
	var root string
	switch v.Layout {
	case Layout3x:
		id := v.ModelID
		if id == "" {
			id = "m-" + randHex(16)
		}
		root = "1/models/" + id + "/artifacts"
		s.logged[id] = loggedModel{id: id, runID: runID, artifactURI: "mlflow-artifacts:/" + root, created: s.clock}
		mv.source = "models:/" + id
		mv.storage = "mlflow-artifacts:/" + root
	default:
		root = "1/" + runID + "/artifacts/model"
		mv.source = "mlflow-artifacts:/" + root
		mv.storage = mv.source
	}
	for p, b := range v.Files {
		s.artifacts[root+"/"+strings.TrimLeft(p, "/")] = bytes.Clone(b)
	}
	if v.Stage != "" {
		mv.stage = v.Stage
	}
	if v.Status != "" {
		mv.status = v.Status
	}
	keys := make([]string, 0, len(v.Tags))
	for k := range v.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mv.tags = append(mv.tags, [2]string{k, v.Tags[k]})
	}
	mv.created = s.tick()
	mv.updated = mv.created
	if v.CreatedMs != 0 {
		mv.created = v.CreatedMs
	}
	if v.UpdatedMs != 0 {
		mv.updated = v.UpdatedMs
	}
	m.versions[n] = mv
	m.updated = mv.created
	return strconv.Itoa(n)
}

// SetAlias points alias at version (like POST registered-models/alias).
func (s *Server) SetAlias(name, alias, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.Atoi(version)
	s.model(name).aliases[alias] = n
}

// DeleteAlias removes an alias.
func (s *Server) DeleteAlias(name, alias string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.model(name).aliases, alias)
}

// SetStage moves a version to a stage.
func (s *Server) SetStage(name, version, stage string) {
	s.edit(name, version, func(mv *modelVersion) { mv.stage = stage })
}

// SetStatus changes a version's status (READY, PENDING_REGISTRATION, …).
func (s *Server) SetStatus(name, version, status string) {
	s.edit(name, version, func(mv *modelVersion) { mv.status = status })
}

// SetTag sets a version tag.
func (s *Server) SetTag(name, version, key, value string) {
	s.edit(name, version, func(mv *modelVersion) {
		for i := range mv.tags {
			if mv.tags[i][0] == key {
				mv.tags[i][1] = value
				return
			}
		}
		mv.tags = append(mv.tags, [2]string{key, value})
	})
}

// SetDownloadURI overrides what get-download-uri answers for a version.
func (s *Server) SetDownloadURI(name, version, uri string) {
	s.edit(name, version, func(mv *modelVersion) { mv.storage = uri })
}

// Source returns a version's source URI.
func (s *Server) Source(name, version string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.Atoi(version)
	if m := s.models[name]; m != nil && m.versions[n] != nil {
		return m.versions[n].source
	}
	return ""
}

// PutArtifact stores raw bytes at a proxied path (below mlflow-artifacts:/).
func (s *Server) PutArtifact(p string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.artifacts[strings.TrimLeft(p, "/")] = bytes.Clone(b)
}

func (s *Server) edit(name, version string, f func(*modelVersion)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.Atoi(version)
	if m := s.models[name]; m != nil {
		if mv := m.versions[n]; mv != nil {
			f(mv)
			mv.updated = s.tick()
			m.updated = mv.updated
		}
	}
}

// Fail makes route answer status (with MLflow's JSON error body) for the
// next n requests; n < 0 means until ClearFaults.
func (s *Server) Fail(route Route, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = &fault{status: status, left: n}
}

// Hang makes route accept requests and never answer, until the request's
// context ends or the server closes.
func (s *Server) Hang(route Route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = &fault{hang: true, left: -1}
}

// TruncateDownloads cuts every file download's connection after n body bytes
// (without the terminating chunk); n < 0 turns it off.
func (s *Server) TruncateDownloads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncateAt = n
}

// RequireBasicAuth makes every route but /health demand these credentials,
// answering 401 text/plain as MLflow's basic-auth app does.
func (s *Server) RequireBasicAuth(user, pass string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.pass, s.token = user, pass, ""
}

// RequireBearer makes every route but /health demand this bearer token.
func (s *Server) RequireBearer(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.pass, s.token = "", "", token
}

// Override serves route with h instead (hostile answers in tests); nil removes it.
func (s *Server) Override(route Route, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h == nil {
		delete(s.overrides, route)
		return
	}
	s.overrides[route] = h
}

// ListDirectoriesOnly makes every artifact listing, the root's and each directory's, name n
// directories and no file: a registry that would have a client walk n^depth directories.
func (s *Server) ListDirectoriesOnly(n int) {
	var b strings.Builder
	b.WriteString(`{"files": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"path": "d%05d", "is_dir": true}`, i)
	}
	b.WriteString("]}")
	listing := b.String()
	s.Override(RouteArtifactList, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, listing) })
}

// ClearFaults removes failures, hangs, truncation, auth and overrides.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[Route]*fault{}
	s.overrides = map[Route]http.HandlerFunc{}
	s.truncateAt = -1
	s.user, s.pass, s.token = "", "", ""
}

// SearchPageSize caps model-versions/search pages at n rows whatever
// max_results asks, so tests see next_page_token; 0 turns it off.
func (s *Server) SearchPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// Hits returns how many requests reached route (including failed ones).
func (s *Server) Hits(route Route) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[route]
}

func routeOf(p string) (Route, bool) {
	for _, prefix := range []string{"/api/2.0", "/ajax-api/2.0"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			r := "/api/2.0" + rest
			switch {
			case strings.HasPrefix(r, string(RouteArtifactFile)):
				return RouteArtifactFile, true
			case strings.HasPrefix(r, string(RouteLoggedModel)):
				return RouteLoggedModel, true
			}
			switch Route(r) {
			case RouteRegisteredModel, RouteLatestVersions, RouteAlias, RouteGetVersion, RouteSearch,
				RouteDownloadURI, RouteRunsGet, RouteRunArtifacts, RouteArtifactList:
				return Route(r), true
			}
		}
	}
	if p == string(RouteHealth) {
		return RouteHealth, true
	}
	return "", false
}

const unauthenticatedBody = "You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate."

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	route, ok := routeOf(r.URL.Path)
	s.mu.Lock()
	if ok {
		s.hits[route]++
	}
	user, pass, token := s.user, s.pass, s.token
	s.mu.Unlock()

	if route == RouteHealth {
		io.WriteString(w, "OK")
		return
	}
	// The basic-auth app checks credentials before routing, as here.
	if !s.authorized(r, user, pass, token) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("WWW-Authenticate", `Basic realm="mlflow"`)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, unauthenticatedBody)
		return
	}
	if !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n")
		return
	}

	s.mu.Lock()
	f := s.faults[route]
	var status int
	hang := false
	if f != nil && f.left != 0 {
		status, hang = f.status, f.hang
		if f.left > 0 {
			f.left--
		}
	}
	override := s.overrides[route]
	s.mu.Unlock()

	if hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	}
	if status != 0 {
		code := "INTERNAL_ERROR"
		switch status {
		case 503:
			code = "TEMPORARILY_UNAVAILABLE"
		case 429:
			code = "REQUEST_LIMIT_EXCEEDED"
		case 504:
			code = "DEADLINE_EXCEEDED"
		}
		writeError(w, status, code, "injected fault")
		return
	}
	if override != nil {
		override(w, r)
		return
	}
	switch route {
	case RouteRegisteredModel:
		s.getRegisteredModel(w, r)
	case RouteLatestVersions:
		s.getLatestVersions(w, r)
	case RouteAlias:
		s.getAlias(w, r)
	case RouteGetVersion:
		s.getVersion(w, r)
	case RouteSearch:
		s.search(w, r)
	case RouteDownloadURI:
		s.getDownloadURI(w, r)
	case RouteRunsGet:
		s.getRun(w, r)
	case RouteRunArtifacts:
		s.listRunArtifacts(w, r)
	case RouteLoggedModel:
		s.getLoggedModel(w, r)
	case RouteArtifactList:
		s.listProxied(w, r)
	case RouteArtifactFile:
		s.download(w, r)
	}
}

func (s *Server) authorized(r *http.Request, user, pass, token string) bool {
	switch {
	case token != "":
		return r.Header.Get("Authorization") == "Bearer "+token
	case user != "" || pass != "":
		u, p, ok := r.BasicAuth()
		return ok && u == user && p == pass
	}
	return true
}

// --- JSON rendering as MLflow's message_to_json / json.dumps do ---

// pyJSON renders v like Python's json.dumps(..., indent=2): ", " is not used
// with indent, ": " is, non-ASCII is \u-escaped, HTML is not escaped.
func pyJSON(v any, indent bool) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		panic(err) // only our own types are encoded
	}
	return asciiEscape(bytes.TrimRight(buf.Bytes(), "\n"))
}

// asciiEscape mirrors ensure_ascii=True.
func asciiEscape(b []byte) []byte {
	var out bytes.Buffer
	for _, r := range string(b) {
		switch {
		case r < 0x80:
			out.WriteRune(r)
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.Bytes()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(pyJSON(v, true))
}

// writeError renders json.dumps({"error_code": …, "message": …}).
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error_code": %s, "message": %s}`, pyJSON(code, false), pyJSON(msg, false))
}

func missingParam(w http.ResponseWriter, p string) {
	writeError(w, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter '"+p+"'. See the API docs for more information about request parameters.")
}

// Wire types, fields in proto field-number order.
type jsonTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type jsonModelVersion struct {
	Name                 string    `json:"name"`
	Version              string    `json:"version"`
	CreationTimestamp    int64     `json:"creation_timestamp"`
	LastUpdatedTimestamp int64     `json:"last_updated_timestamp"`
	UserID               string    `json:"user_id,omitempty"`
	CurrentStage         string    `json:"current_stage"`
	Description          string    `json:"description"`
	Source               string    `json:"source"`
	RunID                string    `json:"run_id"`
	Status               string    `json:"status"`
	StatusMessage        string    `json:"status_message,omitempty"`
	Tags                 []jsonTag `json:"tags,omitempty"`
	RunLink              string    `json:"run_link"`
	Aliases              []string  `json:"aliases,omitempty"`
}

type jsonAlias struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

type jsonRegisteredModel struct {
	Name                 string             `json:"name"`
	CreationTimestamp    int64              `json:"creation_timestamp"`
	LastUpdatedTimestamp int64              `json:"last_updated_timestamp"`
	Description          string             `json:"description,omitempty"`
	LatestVersions       []jsonModelVersion `json:"latest_versions,omitempty"`
	Tags                 []jsonTag          `json:"tags,omitempty"`
	Aliases              []jsonAlias        `json:"aliases,omitempty"`
}

type jsonFileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize int64  `json:"file_size,omitempty"`
}

func (m *registeredModel) render(mv *modelVersion, withAliases bool) jsonModelVersion {
	j := jsonModelVersion{
		Name: m.name, Version: strconv.Itoa(mv.number),
		CreationTimestamp: mv.created, LastUpdatedTimestamp: mv.updated,
		CurrentStage: mv.stage, Source: mv.source, RunID: mv.runID, Status: mv.status,
	}
	for _, t := range mv.tags {
		j.Tags = append(j.Tags, jsonTag{Key: t[0], Value: t[1]})
	}
	if withAliases {
		var as []string
		for a, n := range m.aliases {
			if n == mv.number {
				as = append(as, a)
			}
		}
		sort.Strings(as)
		j.Aliases = as
	}
	return j
}

func modelNotFound(w http.ResponseWriter, name string) {
	writeError(w, 404, "RESOURCE_DOES_NOT_EXIST", "Registered Model with name="+name+" not found")
}

func versionNotFound(w http.ResponseWriter, name, version string) {
	writeError(w, 404, "RESOURCE_DOES_NOT_EXIST", "Model Version (name="+name+", version="+version+") not found")
}

// lookupVersion validates name and version parameters; it writes the error
// answer itself and returns nil when they are bad.
func (s *Server) lookupVersion(w http.ResponseWriter, r *http.Request) (*registeredModel, *modelVersion) {
	name, version := r.URL.Query().Get("name"), r.URL.Query().Get("version")
	if name == "" {
		missingParam(w, "name")
		return nil, nil
	}
	if version == "" {
		missingParam(w, "version")
		return nil, nil
	}
	n, err := strconv.Atoi(version)
	if err != nil {
		writeError(w, 400, "INVALID_PARAMETER_VALUE", "Model version must be an integer, got '"+version+"'")
		return nil, nil
	}
	m := s.models[name]
	if m == nil || m.versions[n] == nil {
		versionNotFound(w, name, version)
		return nil, nil
	}
	return m, m.versions[n]
}

func (s *Server) getRegisteredModel(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := r.URL.Query().Get("name")
	if name == "" {
		missingParam(w, "name")
		return
	}
	m := s.models[name]
	if m == nil {
		modelNotFound(w, name)
		return
	}
	j := jsonRegisteredModel{Name: m.name, CreationTimestamp: m.created, LastUpdatedTimestamp: m.updated}
	latest := map[string]*modelVersion{}
	for _, mv := range m.versions {
		if cur := latest[mv.stage]; cur == nil || mv.number > cur.number {
			latest[mv.stage] = mv
		}
	}
	vs := make([]*modelVersion, 0, len(latest))
	for _, mv := range latest {
		vs = append(vs, mv)
	}
	sort.Slice(vs, func(i, k int) bool { return vs[i].number > vs[k].number })
	for _, mv := range vs {
		j.LatestVersions = append(j.LatestVersions, m.render(mv, false))
	}
	as := make([]string, 0, len(m.aliases))
	for a := range m.aliases {
		as = append(as, a)
	}
	sort.Strings(as)
	for _, a := range as {
		j.Aliases = append(j.Aliases, jsonAlias{Alias: a, Version: strconv.Itoa(m.aliases[a])})
	}
	writeJSON(w, struct {
		RegisteredModel jsonRegisteredModel `json:"registered_model"`
	}{j})
}

var stages = []string{"None", "Staging", "Production", "Archived"}

func (s *Server) getLatestVersions(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	want := r.URL.Query()["stages"]
	if r.Method == http.MethodPost {
		var body struct {
			Name   string   `json:"name"`
			Stages []string `json:"stages"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			writeError(w, 400, "BAD_REQUEST", "Malformed request body: "+err.Error())
			return
		}
		name, want = body.Name, body.Stages
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		missingParam(w, "name")
		return
	}
	canon := map[string]bool{}
	for _, st := range want {
		ok := false
		for _, c := range stages {
			if strings.EqualFold(c, st) {
				canon[c], ok = true, true
			}
		}
		if !ok {
			writeError(w, 400, "INVALID_PARAMETER_VALUE", "Invalid Model Version stage: "+st+". Value must be one of None, Staging, Production, Archived.")
			return
		}
	}
	m := s.models[name]
	if m == nil {
		modelNotFound(w, name)
		return
	}
	latest := map[string]*modelVersion{}
	for _, mv := range m.versions {
		if len(canon) > 0 && !canon[mv.stage] {
			continue
		}
		if cur := latest[mv.stage]; cur == nil || mv.number > cur.number {
			latest[mv.stage] = mv
		}
	}
	var out []jsonModelVersion
	// Stage order, not version order: a client must take the max itself.
	for _, st := range stages {
		if mv := latest[st]; mv != nil {
			out = append(out, m.render(mv, true))
		}
	}
	writeJSON(w, struct {
		ModelVersions []jsonModelVersion `json:"model_versions,omitempty"`
	}{out})
}

func (s *Server) getAlias(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, alias := q.Get("name"), q.Get("alias")
	switch r.Method {
	case http.MethodPost:
		s.setAlias(w, r)
		return
	case http.MethodDelete:
		s.mu.Lock()
		if m := s.models[name]; m != nil {
			delete(m.aliases, alias)
		}
		s.mu.Unlock()
		writeJSON(w, struct{}{})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		missingParam(w, "name")
		return
	}
	if alias == "" {
		missingParam(w, "alias")
		return
	}
	m := s.models[name]
	// The SQL store looks up the alias row only: a missing model gives the same 400.
	if m == nil {
		writeError(w, 400, "INVALID_PARAMETER_VALUE", "Registered model alias "+alias+" not found.")
		return
	}
	n, ok := m.aliases[alias]
	if !ok || m.versions[n] == nil {
		writeError(w, 400, "INVALID_PARAMETER_VALUE", "Registered model alias "+alias+" not found.")
		return
	}
	writeJSON(w, struct {
		ModelVersion jsonModelVersion `json:"model_version"`
	}{m.render(m.versions[n], true)})
}

// setAlias serves POST registered-models/alias {"name", "alias", "version"}.
func (s *Server) setAlias(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name    string `json:"name"`
		Alias   string `json:"alias"`
		Version string `json:"version"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, 400, "BAD_REQUEST", "Malformed request body: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range [][2]string{{"name", body.Name}, {"alias", body.Alias}, {"version", body.Version}} {
		if p[1] == "" {
			missingParam(w, p[0])
			return
		}
	}
	n, err := strconv.Atoi(body.Version)
	m := s.models[body.Name]
	if err != nil || m == nil || m.versions[n] == nil {
		versionNotFound(w, body.Name, body.Version)
		return
	}
	m.aliases[body.Alias] = n
	writeJSON(w, struct{}{})
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, mv := s.lookupVersion(w, r)
	if mv == nil {
		return
	}
	writeJSON(w, struct {
		ModelVersion jsonModelVersion `json:"model_version"`
	}{m.render(mv, true)})
}

func (s *Server) getDownloadURI(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, mv := s.lookupVersion(w, r)
	if mv == nil {
		return
	}
	writeJSON(w, struct {
		ArtifactURI string `json:"artifact_uri"`
	}{mv.storage})
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	filter := strings.TrimSpace(q.Get("filter"))
	var key, val string
	if filter != "" {
		k, v, ok := strings.Cut(filter, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || (k != "name" && k != "run_id") || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			writeError(w, 400, "INVALID_PARAMETER_VALUE", "Invalid filter '"+filter+"'. The fake supports name='x' and run_id='x' only.")
			return
		}
		key, val = k, v[1:len(v)-1]
	}
	maxResults := 200000
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200000 {
			writeError(w, 400, "INVALID_PARAMETER_VALUE", "Invalid value for max_results. It must be at most 200000, but got value "+v)
			return
		}
		maxResults = n
	}
	if s.pageSize > 0 {
		maxResults = min(maxResults, s.pageSize)
	}
	offset := 0
	if tok := q.Get("page_token"); tok != "" {
		b, err := base64.StdEncoding.DecodeString(tok)
		var p struct {
			Offset *int `json:"offset"`
		}
		if err != nil || json.Unmarshal(b, &p) != nil || p.Offset == nil || *p.Offset < 0 {
			writeError(w, 400, "INVALID_PARAMETER_VALUE", "Invalid page token, could not base64-decode")
			return
		}
		offset = *p.Offset
	}
	type row struct {
		m  *registeredModel
		mv *modelVersion
	}
	var rows []row
	for _, m := range s.models {
		for _, mv := range m.versions {
			if (key == "name" && m.name != val) || (key == "run_id" && mv.runID != val) {
				continue
			}
			rows = append(rows, row{m, mv})
		}
	}
	sort.Slice(rows, func(i, k int) bool {
		a, b := rows[i], rows[k]
		if a.mv.updated != b.mv.updated {
			return a.mv.updated > b.mv.updated
		}
		if a.m.name != b.m.name {
			return a.m.name < b.m.name
		}
		return a.mv.number > b.mv.number
	})
	var out struct {
		ModelVersions []jsonModelVersion `json:"model_versions,omitempty"`
		NextPageToken string             `json:"next_page_token,omitempty"`
	}
	for i := offset; i < len(rows) && i < offset+maxResults; i++ {
		out.ModelVersions = append(out.ModelVersions, rows[i].m.render(rows[i].mv, false))
	}
	if offset+maxResults < len(rows) {
		out.NextPageToken = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"offset": %d}`, offset+maxResults)))
	}
	writeJSON(w, out)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.URL.Query().Get("run_id")
	if id == "" {
		id = r.URL.Query().Get("run_uuid")
	}
	if id == "" {
		missingParam(w, "run_id")
		return
	}
	uri, ok := s.runs[id]
	if !ok {
		writeError(w, 404, "RESOURCE_DOES_NOT_EXIST", "Run with id="+id+" not found")
		return
	}
	type info struct {
		RunUUID        string `json:"run_uuid"`
		ExperimentID   string `json:"experiment_id"`
		RunName        string `json:"run_name"`
		Status         string `json:"status"`
		StartTime      int64  `json:"start_time"`
		EndTime        int64  `json:"end_time"`
		ArtifactURI    string `json:"artifact_uri"`
		LifecycleStage string `json:"lifecycle_stage"`
		RunID          string `json:"run_id"`
	}
	writeJSON(w, struct {
		Run struct {
			Info info     `json:"info"`
			Data struct{} `json:"data"`
		} `json:"run"`
	}{Run: struct {
		Info info     `json:"info"`
		Data struct{} `json:"data"`
	}{Info: info{RunUUID: id, ExperimentID: "1", RunName: "run-" + id[:6], Status: "FINISHED",
		StartTime: 1718000000000, EndTime: 1718000060000, ArtifactURI: uri, LifecycleStage: "active", RunID: id}}})
}

// children lists the direct children of dir among stored artifacts.
func (s *Server) children(dir string) []jsonFileInfo {
	dir = strings.Trim(dir, "/")
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	seen := map[string]bool{}
	var out []jsonFileInfo
	for p, b := range s.artifacts {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok || rest == "" {
			continue
		}
		if head, _, nested := strings.Cut(rest, "/"); nested {
			if !seen[head] {
				seen[head] = true
				out = append(out, jsonFileInfo{Path: head, IsDir: true})
			}
			continue
		}
		out = append(out, jsonFileInfo{Path: rest, FileSize: int64(len(b))})
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Path < out[k].Path })
	return out
}

func unsafePath(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return true
		}
	}
	return strings.HasPrefix(p, "/") || strings.Contains(p, "\\")
}

func (s *Server) listProxied(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := r.URL.Query().Get("path")
	if unsafePath(p) {
		writeError(w, 400, "INVALID_PARAMETER_VALUE", "Invalid path")
		return
	}
	writeJSON(w, struct {
		Files []jsonFileInfo `json:"files,omitempty"`
	}{s.children(p)})
}

func (s *Server) listRunArtifacts(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	id := q.Get("run_id")
	if id == "" {
		id = q.Get("run_uuid")
	}
	if id == "" {
		missingParam(w, "run_id")
		return
	}
	uri, ok := s.runs[id]
	if !ok {
		writeError(w, 404, "RESOURCE_DOES_NOT_EXIST", "Run with id="+id+" not found")
		return
	}
	rel := strings.Trim(q.Get("path"), "/")
	if unsafePath(rel) {
		writeError(w, 400, "INVALID_PARAMETER_VALUE", "Invalid path")
		return
	}
	root := strings.TrimPrefix(uri, "mlflow-artifacts:/")
	files := s.children(path.Join(root, rel))
	for i := range files {
		if rel != "" {
			files[i].Path = rel + "/" + files[i].Path
		}
	}
	writeJSON(w, struct {
		RootURI string         `json:"root_uri"`
		Files   []jsonFileInfo `json:"files,omitempty"`
	}{uri, files})
}

func (s *Server) getLoggedModel(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strings.TrimPrefix(r.URL.Path[strings.Index(r.URL.Path, "/logged-models/"):], "/logged-models/")
	lm, ok := s.logged[id]
	if !ok {
		writeError(w, 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID '"+id+"' not found.")
		return
	}
	type info struct {
		ModelID                string `json:"model_id"`
		ExperimentID           string `json:"experiment_id"`
		Name                   string `json:"name"`
		CreationTimestampMs    int64  `json:"creation_timestamp_ms"`
		LastUpdatedTimestampMs int64  `json:"last_updated_timestamp_ms"`
		ArtifactURI            string `json:"artifact_uri"`
		Status                 string `json:"status"`
		SourceRunID            string `json:"source_run_id"`
	}
	type model struct {
		Info info     `json:"info"`
		Data struct{} `json:"data"`
	}
	writeJSON(w, struct {
		Model model `json:"model"`
	}{model{Info: info{ModelID: lm.id, ExperimentID: "1", Name: "model", CreationTimestampMs: lm.created,
		LastUpdatedTimestampMs: lm.created, ArtifactURI: lm.artifactURI, Status: "LOGGED_MODEL_READY", SourceRunID: lm.runID}}})
}

func mimeType(name string) string {
	switch {
	case name == "MLmodel", strings.HasSuffix(name, ".yaml"), strings.HasSuffix(name, ".txt"), strings.HasSuffix(name, ".json"):
		return "text/plain"
	}
	return "application/octet-stream"
}

// download streams a file as MLflow's _download_artifact does: chunked, no
// Content-Length; a missing file is a 500 INTERNAL_ERROR, not a 404.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	i := strings.Index(r.URL.Path, string(RouteArtifactFile))
	p := r.URL.Path[i+len(RouteArtifactFile):]
	if unsafePath(p) {
		writeError(w, 400, "INVALID_PARAMETER_VALUE", "Invalid path")
		return
	}
	s.mu.Lock()
	b, ok := s.artifacts[p]
	cut := s.truncateAt
	s.mu.Unlock()
	if !ok {
		writeError(w, 500, "INTERNAL_ERROR", "The following failures occurred while downloading one or more artifacts from mlflow-artifacts:/"+p+":\n##### File "+path.Base(p)+" #####\nNo such file or directory")
		return
	}
	h := w.Header()
	h.Set("Content-Type", mimeType(path.Base(p)))
	h.Set("Content-Disposition", "attachment; filename="+path.Base(p))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	// Flushing before the body forces chunked encoding even for small files.
	flusher := w.(http.Flusher)
	flusher.Flush()
	if cut >= 0 && cut < len(b) {
		w.Write(b[:cut])
		flusher.Flush()
		// Abort without the terminating chunk: the client sees a cut body.
		panic(http.ErrAbortHandler)
	}
	const chunk = 32 << 10
	for len(b) > 0 {
		n := min(chunk, len(b))
		if _, err := w.Write(b[:n]); err != nil {
			return
		}
		flusher.Flush()
		b = b[n:]
	}
}
