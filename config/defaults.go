package config

import "time"

// Default returns the built-in configuration: the original system's
// config.yaml, its step 05 grids and its sweep settings. config.yaml at the
// repository root spells out the same values.
func Default() *Config {
	alphas := []any{0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0, 100.0, 500.0}
	return &Config{
		Main: Main{
			ProjectName:    "housing-mlops",
			ExperimentName: "end_to_end_pipeline",
			Steps:          nil,
			OutputDir:      ".",
		},
		Data: Data{
			Target: "median_house_value",
			Numeric: []string{"longitude", "latitude", "housing_median_age", "total_rooms",
				"total_bedrooms", "population", "households", "median_income"},
			Categorical: []string{"ocean_proximity"},
			Geo:         []string{"latitude", "longitude"},
		},
		Download: Download{
			FileURL: "https://raw.githubusercontent.com/ageron/handson-ml2/master/datasets/housing/housing.tgz",
			SHA256:  "d4cd501af90475f09b814c7447c7701f59bf28e8cf1180205ae5ace9737a0109",
			Retries: 3,
			Timeout: Duration(30 * time.Second),
		},
		Preprocessing: Preprocessing{
			ImputeColumn: "total_bedrooms",
			Strategies:   []string{"median", "mean", "knn", "iterative"},
			Strategy:     "auto",
			TestSize:     0.2,
			RandomState:  42,
			KNNNeighbors: 5,
		},
		FeatureEngineering: FeatureEngineering{
			NClusters:        10,
			Optimize:         true,
			KMin:             2,
			KMax:             20,
			NInit:            10,
			RandomState:      42,
			SilhouetteSample: 0,
		},
		Segregation: Segregation{TestSize: 0.2, RandomState: 42},
		ModelSelection: ModelSelection{
			Families: []string{"random_forest", "gradient_boosting", "ridge", "lasso", "decision_tree"},
			Grids: map[string]Grid{
				"random_forest": {
					"n_estimators":      {50, 100, 200, 300},
					"max_depth":         {10, 15, 20, 25, nil},
					"min_samples_split": {2, 5, 10},
					"min_samples_leaf":  {1, 2, 4},
				},
				"gradient_boosting": {
					"n_estimators":  {50, 100, 150, 200},
					"learning_rate": {0.01, 0.05, 0.1, 0.15, 0.2},
					"max_depth":     {3, 4, 5, 6, 7},
					"subsample":     {0.8, 0.9, 1.0},
				},
				"ridge": {"alpha": alphas},
				"lasso": {"alpha": append([]any(nil), alphas...)},
				"decision_tree": {
					"max_depth":         {5, 10, 15, 20, 25, nil},
					"min_samples_split": {2, 5, 10, 20},
					"min_samples_leaf":  {1, 2, 4, 8},
				},
			},
			CVFolds:     5,
			Scoring:     "mae",
			RandomState: 42,
		},
		Sweep: Sweep{
			Trials: 50,
			// Fixed, not "all cores": trials run in batches of this size and
			// TPE sees only earlier batches, so results depend on it.
			Parallelism: 4,
			Method:      "tpe",
			Metric:      "wmape",
			Goal:        "minimize",
			RandomState: 42,
		},
		Registration: Registration{
			RegisteredModelName: "housing_price_model",
			ModelStage:          "Staging",
		},
		Tracking: Tracking{
			URI:          "sqlite://${MLOPS_HOME}/mlops.db",
			ArtifactsURL: "file://${MLOPS_HOME}/artifacts",
		},
	}
}
