package mlflowtest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
)

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRegistryRoutes(t *testing.T) {
	s := mlflowtest.New(t)
	for range 3 {
		s.AddVersion("m", mlflowtest.Version{Files: map[string][]byte{"model.onnx": []byte("x")}})
	}
	s.SetStage("m", "2", "Production")

	// POST get-latest-versions with a JSON body, stages matched case-insensitively.
	code, body := do(t, "POST", s.URL+"/api/2.0/mlflow/registered-models/get-latest-versions", `{"name": "m", "stages": ["production"]}`)
	if code != 200 || !strings.Contains(body, `"version": "2"`) || strings.Contains(body, `"version": "3"`) {
		t.Errorf("POST latest: %d %s", code, body)
	}
	code, body = do(t, "GET", s.URL+"/api/2.0/mlflow/registered-models/get-latest-versions?name=m&stages=Archived", "")
	if code != 200 || body != "{}" {
		t.Errorf("empty stage: %d %s, want 200 {}", code, body)
	}
	code, body = do(t, "GET", s.URL+"/api/2.0/mlflow/registered-models/get-latest-versions?name=m&stages=Prod", "")
	if code != 400 || body != `{"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid Model Version stage: Prod. Value must be one of None, Staging, Production, Archived."}` {
		t.Errorf("bad stage: %d %s", code, body)
	}

	// Search pagination token is MLflow's base64(json.dumps({"offset": N})).
	code, body = do(t, "GET", s.URL+"/api/2.0/mlflow/model-versions/search?filter=name%3D%27m%27&max_results=2", "")
	if code != 200 || !strings.Contains(body, `"next_page_token": "eyJvZmZzZXQiOiAyfQ=="`) || strings.Contains(body, "aliases") {
		t.Errorf("search page 1: %d %s", code, body)
	}
	code, body = do(t, "GET", s.URL+"/api/2.0/mlflow/model-versions/search?filter=name%3D%27m%27&max_results=2&page_token=eyJvZmZzZXQiOiAyfQ==", "")
	if code != 200 || strings.Count(body, `"name": "m"`) != 1 || strings.Contains(body, "next_page_token") {
		t.Errorf("search page 2: %d %s", code, body)
	}

	// Alias set and delete through the API.
	if code, body = do(t, "POST", s.URL+"/api/2.0/mlflow/registered-models/alias", `{"name": "m", "alias": "champion", "version": "3"}`); code != 200 || body != "{}" {
		t.Errorf("set alias: %d %s", code, body)
	}
	if code, body = do(t, "GET", s.URL+"/api/2.0/mlflow/registered-models/alias?name=m&alias=champion", ""); code != 200 || !strings.Contains(body, `"aliases": [`+"\n"+`      "champion"`) {
		t.Errorf("get alias: %d %s", code, body)
	}
	do(t, "DELETE", s.URL+"/api/2.0/mlflow/registered-models/alias?name=m&alias=champion", "")
	if code, _ = do(t, "GET", s.URL+"/api/2.0/mlflow/registered-models/alias?name=m&alias=champion", ""); code != 400 {
		t.Errorf("deleted alias: %d, want 400", code)
	}

	// Unknown routes are the framework's HTML 404; unsafe artifact paths are refused.
	if code, body = do(t, "GET", s.URL+"/api/2.0/mlflow/artifacts/get?path=x", ""); code != 404 || !strings.Contains(body, "<title>404 Not Found</title>") {
		t.Errorf("unknown route: %d %s", code, body)
	}
	if code, _ = do(t, "GET", s.URL+"/api/2.0/mlflow-artifacts/artifacts?path=1/../../etc", ""); code != 400 {
		t.Errorf("traversal listing: %d", code)
	}

	// Fault switches: n failures then healthy; Hits counts both.
	s.Fail(mlflowtest.RouteGetVersion, 502, 1)
	code1, _ := do(t, "GET", s.URL+"/api/2.0/mlflow/model-versions/get?name=m&version=1", "")
	code2, _ := do(t, "GET", s.URL+"/api/2.0/mlflow/model-versions/get?name=m&version=1", "")
	if code1 != 502 || code2 != 200 || s.Hits(mlflowtest.RouteGetVersion) != 2 {
		t.Errorf("Fail n=1: %d then %d, hits %d", code1, code2, s.Hits(mlflowtest.RouteGetVersion))
	}
}
