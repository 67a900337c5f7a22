package mlflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
)

// The JSON shapes of MLflow's REST API (protobuf JSON with snake_case
// names), shared by the server and the client. Protobuf's JSON mapping lets
// int64 fields travel as numbers or decimal strings and doubles as numbers
// or "NaN"/"Infinity"; the flexible types below accept both so that every
// MLflow client version is understood.

// jsonInt is an int64 that decodes from a JSON number or a decimal string.
type jsonInt int64

// UnmarshalJSON accepts 12, "12" and null.
func (n *jsonInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) {
			return fmt.Errorf("want an integer, got %s", b)
		}
		v = int64(f)
	}
	*n = jsonInt(v)
	return nil
}

// jsonFloat is a float64 that travels as a number, or as "NaN",
// "Infinity" or "-Infinity" (protobuf's JSON spelling of non-finite values).
type jsonFloat float64

// MarshalJSON writes non-finite values as protobuf's strings.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON accepts numbers, numeric strings and the non-finite words.
func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	switch strings.ToLower(s) {
	case "nan":
		*f = jsonFloat(math.NaN())
		return nil
	case "infinity", "inf":
		*f = jsonFloat(math.Inf(1))
		return nil
	case "-infinity", "-inf":
		*f = jsonFloat(math.Inf(-1))
		return nil
	case "", "null":
		*f = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("want a number, got %s", b)
	}
	*f = jsonFloat(v)
	return nil
}

// flexString is a string that also decodes from a JSON number (versions
// are strings in MLflow's API but some clients send 3).
type flexString string

// UnmarshalJSON accepts "3", 3 and null.
func (s *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	}
	if string(b) == "null" {
		*s = ""
		return nil
	}
	*s = flexString(b)
	return nil
}

// stringList is a []string that also decodes from one string (a query
// parameter given once).
type stringList []string

// UnmarshalJSON accepts ["a","b"], "a" and null.
func (l *stringList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*l = stringList{v}
		return nil
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*l = v
	return nil
}

// flexBool is a bool that also decodes from "true"/"false" (query
// parameters).
type flexBool bool

// UnmarshalJSON accepts true, "true", "True", false, "false" and null.
func (v *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(strings.Trim(string(b), `"`)) {
	case "true", "1":
		*v = true
	case "false", "0", "", "null":
		*v = false
	default:
		return fmt.Errorf("want true or false, got %s", b)
	}
	return nil
}

type wireTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type wireExperiment struct {
	ExperimentID     string    `json:"experiment_id"`
	Name             string    `json:"name"`
	ArtifactLocation string    `json:"artifact_location"`
	LifecycleStage   string    `json:"lifecycle_stage"`
	LastUpdateTime   jsonInt   `json:"last_update_time,omitempty"`
	CreationTime     jsonInt   `json:"creation_time,omitempty"`
	Tags             []wireTag `json:"tags,omitempty"`
}

type wireRunInfo struct {
	RunID          string  `json:"run_id"`
	RunUUID        string  `json:"run_uuid"`
	RunName        string  `json:"run_name"`
	ExperimentID   string  `json:"experiment_id"`
	UserID         string  `json:"user_id"`
	Status         string  `json:"status"`
	StartTime      jsonInt `json:"start_time,omitempty"`
	EndTime        jsonInt `json:"end_time,omitempty"`
	ArtifactURI    string  `json:"artifact_uri"`
	LifecycleStage string  `json:"lifecycle_stage"`
}

type wireMetric struct {
	Key       string    `json:"key"`
	Value     jsonFloat `json:"value"`
	Timestamp jsonInt   `json:"timestamp"`
	Step      jsonInt   `json:"step"`
}

type wireRunData struct {
	Metrics []wireMetric `json:"metrics,omitempty"`
	Params  []wireTag    `json:"params,omitempty"`
	Tags    []wireTag    `json:"tags,omitempty"`
}

type wireDataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

type wireDatasetInput struct {
	Tags    []wireTag   `json:"tags,omitempty"`
	Dataset wireDataset `json:"dataset"`
}

type wireRunInputs struct {
	DatasetInputs []wireDatasetInput `json:"dataset_inputs,omitempty"`
}

type wireRun struct {
	Info   wireRunInfo   `json:"info"`
	Data   wireRunData   `json:"data"`
	Inputs wireRunInputs `json:"inputs"`
}

type wireAlias struct {
	Alias   string     `json:"alias"`
	Version flexString `json:"version"`
}

type wireRegisteredModel struct {
	Name                 string             `json:"name"`
	CreationTimestamp    jsonInt            `json:"creation_timestamp,omitempty"`
	LastUpdatedTimestamp jsonInt            `json:"last_updated_timestamp,omitempty"`
	UserID               string             `json:"user_id,omitempty"`
	Description          string             `json:"description,omitempty"`
	LatestVersions       []wireModelVersion `json:"latest_versions,omitempty"`
	Tags                 []wireTag          `json:"tags,omitempty"`
	Aliases              []wireAlias        `json:"aliases,omitempty"`
}

type wireModelVersion struct {
	Name                 string     `json:"name"`
	Version              flexString `json:"version"`
	CreationTimestamp    jsonInt    `json:"creation_timestamp,omitempty"`
	LastUpdatedTimestamp jsonInt    `json:"last_updated_timestamp,omitempty"`
	UserID               string     `json:"user_id,omitempty"`
	CurrentStage         string     `json:"current_stage"`
	Description          string     `json:"description,omitempty"`
	Source               string     `json:"source"`
	RunID                string     `json:"run_id,omitempty"`
	Status               string     `json:"status"`
	StatusMessage        string     `json:"status_message,omitempty"`
	Tags                 []wireTag  `json:"tags,omitempty"`
	RunLink              string     `json:"run_link,omitempty"`
	Aliases              []string   `json:"aliases,omitempty"`
}

// wireFileInfo is one entry of an artifact listing.
type wireFileInfo struct {
	Path     string  `json:"path"`
	IsDir    bool    `json:"is_dir"`
	FileSize jsonInt `json:"file_size,omitempty"`
}

// Tags our side keeps for fields MLflow's entities lack.
const (
	// TagSHA256 carries a model version's artifact digest, which MLflow's
	// ModelVersion has no field for.
	TagSHA256 = "mlops.sha256"
	// TagTransitionPrefix starts the registered-model tags in which the
	// client keeps the transition log an MLflow server does not have.
	TagTransitionPrefix = "mlops.transition."
	// tagInputPrefix starts the run tags in which the server keeps
	// datasets logged with runs/log-inputs.
	tagInputPrefix = "mlops.input."
	// MLflow's own system tags.
	tagRunName     = "mlflow.runName"
	tagParentRunID = "mlflow.parentRunId"
	tagUser        = "mlflow.user"
	tagLoggedModel = "mlflow.log-model.history"
)

// ModelVersionStatusReady is the only status our versions have: they are
// registered synchronously.
const ModelVersionStatusReady = "READY"

func toMs(t time.Time) jsonInt {
	if t.IsZero() {
		return 0
	}
	return jsonInt(t.UnixMilli())
}

func fromMs(v jsonInt) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(v)).UTC()
}

// tagsOut turns a map into MLflow's key/value list, sorted for stable output.
func tagsOut(m map[string]string) []wireTag {
	if len(m) == 0 {
		return nil
	}
	out := make([]wireTag, 0, len(m))
	for k, v := range m {
		out = append(out, wireTag{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func tagsIn(l []wireTag) map[string]string {
	if len(l) == 0 {
		return nil
	}
	m := make(map[string]string, len(l))
	for _, t := range l {
		m[t.Key] = t.Value
	}
	return m
}

// parseVersion reads a model version number, naming the field on error.
func parseVersion(s flexString) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(string(s)))
	if err != nil || v < 1 {
		return 0, mlops.Errorf(mlops.EINVALID, "invalid model version %q: want a positive integer", string(s))
	}
	return v, nil
}

func versionString(v int) flexString { return flexString(strconv.Itoa(v)) }

// compactJSON renders v on one line (for tags holding JSON).
func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSpace(buf.String())
}
