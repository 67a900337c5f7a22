// Package mlops holds the domain of housing-mlops: experiments, runs and their
// params, metrics and tags; registered models, versions, stages, aliases and
// the transition log; and the service interfaces that stores implement
// (package sqlite, package postgres, package blob).
//
// The types follow MLflow's entities so that an MLflow-compatible API can be
// served from them and an MLflow server can stand behind them.
package mlops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Error codes, in the spirit of MLflow's error_code values. Adapters map them
// to HTTP statuses and MLflow codes; callers test them with ErrorCode.
const (
	ENOTFOUND = "RESOURCE_DOES_NOT_EXIST"
	EEXISTS   = "RESOURCE_ALREADY_EXISTS"
	EINVALID  = "INVALID_PARAMETER_VALUE"
	ECONFLICT = "INVALID_STATE"
	EINTERNAL = "INTERNAL_ERROR"
)

// Error is a domain error with a machine-readable code and a message meant
// for the user.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Lifecycle stages of experiments and runs (soft delete).
const (
	LifecycleActive  = "active"
	LifecycleDeleted = "deleted"
)

// Experiment groups runs.
type Experiment struct {
	ID               string            `json:"experiment_id"`
	Name             string            `json:"name"`
	ArtifactLocation string            `json:"artifact_location"`
	LifecycleStage   string            `json:"lifecycle_stage"`
	Tags             map[string]string `json:"tags,omitempty"`
	CreatedAt        time.Time         `json:"creation_time"`
	UpdatedAt        time.Time         `json:"last_update_time"`
}

// RunStatus is the state of a run.
type RunStatus string

// Run statuses, as MLflow names them.
const (
	RunRunning   RunStatus = "RUNNING"
	RunScheduled RunStatus = "SCHEDULED"
	RunFinished  RunStatus = "FINISHED"
	RunFailed    RunStatus = "FAILED"
	RunKilled    RunStatus = "KILLED"
)

// Run is one execution: a pipeline, a pipeline step, a sweep or a trial.
// Children point at their parent through ParentID (MLflow's
// mlflow.parentRunId tag).
type Run struct {
	ID             string            `json:"run_id"`
	ExperimentID   string            `json:"experiment_id"`
	Name           string            `json:"run_name"`
	ParentID       string            `json:"parent_run_id,omitempty"`
	Status         RunStatus         `json:"status"`
	StartTime      time.Time         `json:"start_time"`
	EndTime        time.Time         `json:"end_time,omitzero"`
	ArtifactURI    string            `json:"artifact_uri"`
	LifecycleStage string            `json:"lifecycle_stage"`
	Params         map[string]string `json:"params,omitempty"`
	Metrics        []Metric          `json:"metrics,omitempty"` // latest value of each key
	Tags           map[string]string `json:"tags,omitempty"`
}

// Metric is one observation of a metric; history keeps every one.
type Metric struct {
	Key       string    `json:"key"`
	Value     float64   `json:"value"`
	Timestamp time.Time `json:"timestamp"`
	Step      int64     `json:"step"`
}

// Param is a write-once run parameter.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Tag is an overwritable key/value label.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// RunCreate holds what a new run starts with.
type RunCreate struct {
	ExperimentID string
	Name         string
	ParentID     string
	StartTime    time.Time // zero means now
	Tags         map[string]string
}

// RunUpdate changes a run's status, end time or name; zero fields are kept.
type RunUpdate struct {
	Status  RunStatus
	EndTime time.Time
	Name    string
}

// RunFilter selects runs. Empty fields match everything. Filter is MLflow's
// search grammar (metrics.x < 1 AND params.y = 'z'), interpreted by the store.
type RunFilter struct {
	ExperimentIDs []string
	ParentID      string
	Tags          map[string]string // every key must equal its value
	Filter        string
	OrderBy       []string // e.g. "metrics.rmse ASC", "start_time DESC"
	MaxResults    int      // 0 means the store's default
	PageToken     string
	ViewDeleted   bool
}

// Tracker records experiments and runs.
type Tracker interface {
	CreateExperiment(ctx context.Context, name, artifactLocation string, tags map[string]string) (*Experiment, error)
	GetExperiment(ctx context.Context, id string) (*Experiment, error)
	GetExperimentByName(ctx context.Context, name string) (*Experiment, error)
	SearchExperiments(ctx context.Context, viewDeleted bool) ([]*Experiment, error)
	RenameExperiment(ctx context.Context, id, name string) error
	DeleteExperiment(ctx context.Context, id string) error
	RestoreExperiment(ctx context.Context, id string) error
	SetExperimentTag(ctx context.Context, id, key, value string) error

	CreateRun(ctx context.Context, c RunCreate) (*Run, error)
	GetRun(ctx context.Context, id string) (*Run, error)
	UpdateRun(ctx context.Context, id string, u RunUpdate) (*Run, error)
	DeleteRun(ctx context.Context, id string) error
	RestoreRun(ctx context.Context, id string) error
	SearchRuns(ctx context.Context, f RunFilter) (runs []*Run, nextPageToken string, err error)

	// LogBatch writes metrics, params and tags in one transaction. Params are
	// write-once: logging a different value for an existing key is EINVALID.
	LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error
	DeleteTag(ctx context.Context, runID, key string) error
	MetricHistory(ctx context.Context, runID, key string) ([]Metric, error)
}

// Stage is a model version's deployment stage.
type Stage string

// The four stages MLflow knows.
const (
	StageNone       Stage = "None"
	StageStaging    Stage = "Staging"
	StageProduction Stage = "Production"
	StageArchived   Stage = "Archived"
)

// ParseStage accepts a stage name in any case.
func ParseStage(s string) (Stage, error) {
	for _, st := range []Stage{StageNone, StageStaging, StageProduction, StageArchived} {
		if equalFold(string(st), s) {
			return st, nil
		}
	}
	return "", Errorf(EINVALID, "invalid stage %q: want one of None, Staging, Production, Archived", s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// RegisteredModel is a named model with versions.
type RegisteredModel struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Tags        map[string]string `json:"tags,omitempty"`
	Aliases     map[string]int    `json:"aliases,omitempty"` // alias -> version
	CreatedAt   time.Time         `json:"creation_timestamp"`
	UpdatedAt   time.Time         `json:"last_updated_timestamp"`
}

// ModelVersion is one registered artifact of a model.
type ModelVersion struct {
	Name        string            `json:"name"`
	Version     int               `json:"version"`
	Source      string            `json:"source"` // artifact URI
	SHA256      string            `json:"sha256"`
	RunID       string            `json:"run_id"`
	Stage       Stage             `json:"current_stage"`
	Description string            `json:"description"`
	Tags        map[string]string `json:"tags,omitempty"`
	Aliases     []string          `json:"aliases,omitempty"`
	CreatedAt   time.Time         `json:"creation_timestamp"`
	UpdatedAt   time.Time         `json:"last_updated_timestamp"`
}

// ModelVersionCreate holds what a new version is registered with.
type ModelVersionCreate struct {
	Name        string
	Source      string
	SHA256      string
	RunID       string
	Description string
	Tags        map[string]string
}

// Transition is one immutable entry of a model's history: a stage change
// (Kind "stage") or an alias move (Kind "alias", with Alias set).
type Transition struct {
	ID      int64     `json:"id"`
	Name    string    `json:"name"`
	Version int       `json:"version"`
	Kind    string    `json:"kind"`
	Alias   string    `json:"alias,omitempty"`
	From    string    `json:"from"` // previous stage, or previous version for an alias ("" if none)
	To      string    `json:"to"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Reason  string    `json:"reason"`
}

// Transition kinds.
const (
	TransitionStage = "stage"
	TransitionAlias = "alias"
)

// Actor identifies who made a change, and why, for the transition log.
type Actor struct {
	By     string
	Reason string
}

// Registry stores registered models, their versions, stages and aliases.
type Registry interface {
	CreateRegisteredModel(ctx context.Context, name, description string, tags map[string]string) (*RegisteredModel, error)
	GetRegisteredModel(ctx context.Context, name string) (*RegisteredModel, error)
	SearchRegisteredModels(ctx context.Context, nameLike string) ([]*RegisteredModel, error)
	RenameRegisteredModel(ctx context.Context, name, newName string) (*RegisteredModel, error)
	UpdateRegisteredModel(ctx context.Context, name, description string) (*RegisteredModel, error)
	DeleteRegisteredModel(ctx context.Context, name string) error
	SetRegisteredModelTag(ctx context.Context, name, key, value string) error
	DeleteRegisteredModelTag(ctx context.Context, name, key string) error

	// CreateModelVersion creates the model if needed and assigns the next
	// version number (1, 2, 3, ...) in one transaction.
	CreateModelVersion(ctx context.Context, c ModelVersionCreate) (*ModelVersion, error)
	GetModelVersion(ctx context.Context, name string, version int) (*ModelVersion, error)
	SearchModelVersions(ctx context.Context, name string) ([]*ModelVersion, error)
	UpdateModelVersion(ctx context.Context, name string, version int, description string) (*ModelVersion, error)
	DeleteModelVersion(ctx context.Context, name string, version int) error
	SetModelVersionTag(ctx context.Context, name string, version int, key, value string) error
	DeleteModelVersionTag(ctx context.Context, name string, version int, key string) error

	// TransitionStage moves a version to stage. With archiveExisting, other
	// versions in that stage move to Archived in the same transaction. Every
	// change is appended to the transition log.
	TransitionStage(ctx context.Context, name string, version int, stage Stage, archiveExisting bool, a Actor) (*ModelVersion, error)
	// Rollback gives stage back to the version that held it before the
	// current holder, according to the transition log.
	Rollback(ctx context.Context, name string, stage Stage, a Actor) (*ModelVersion, error)
	SetAlias(ctx context.Context, name, alias string, version int, a Actor) error
	DeleteAlias(ctx context.Context, name, alias string, a Actor) error
	GetModelVersionByAlias(ctx context.Context, name, alias string) (*ModelVersion, error)
	// LatestVersions returns the newest version in each of the given stages
	// (all stages when none are given).
	LatestVersions(ctx context.Context, name string, stages ...Stage) ([]*ModelVersion, error)
	Transitions(ctx context.Context, name string) ([]Transition, error)
}

// Store is a tracker and a registry behind one connection.
type Store interface {
	Tracker
	Registry
	io.Closer
}

// ArtifactInfo describes a stored artifact.
type ArtifactInfo struct {
	URI    string `json:"uri"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ArtifactStore keeps artifacts (models, plots, data files) by key under a
// root URL (file://, mem://, s3://, gs://).
type ArtifactStore interface {
	// Put writes atomically and returns the artifact's URI and SHA-256.
	Put(ctx context.Context, key string, r io.Reader) (ArtifactInfo, error)
	// Get reads an artifact by key or full URI. When wantSHA256 is not
	// empty the content is verified and a mismatch is an error.
	Get(ctx context.Context, keyOrURI, wantSHA256 string) ([]byte, error)
	// List returns the artifacts under a key prefix.
	List(ctx context.Context, prefix string) ([]ArtifactInfo, error)
	io.Closer
}
