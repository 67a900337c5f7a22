"""scikit-learn side of `mlops bench sweep`: random search of the original system's random forest
space, on exactly the rows the Go harness used, to quote a same-sitting time ratio.

    mlops bench sweep --data housing.csv --seeds 1 --trials 50 --searches random \
        --split-out rows.json --trials-out trials.json
    /usr/bin/python3 scripts/sklearn_sweep.py housing.csv rows.json [trials] [seed|trials.json]

With trials.json (the Go random search's own trials) scikit-learn fits exactly those parameter
sets, which is the like-for-like time ratio; with a seed it draws its own.

Design as in the harness: the 8 numeric columns median-imputed with medians of the fitting rows,
then ocean_proximity one-hot. Trials draw the space of tune/spaces/random_forest.yaml uniformly
(n_estimators 50-500, max_depth 5-30, min_samples_split 2-20, min_samples_leaf 1-10,
max_features sqrt|log2), fit RandomForestRegressor(random_state=42, n_jobs=-1) on the fitting rows
and score wMAPE (%) on the validation rows; the clock covers fit and predict of every trial.
Prints JSON: seconds, best validation wMAPE and its parameters, and the best model's test wMAPE.
"""
import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

NUM = ["longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
       "population", "households", "median_income"]
TARGET = "median_house_value"


def wmape(y, p):
    return 100 * np.abs(y - p).sum() / np.abs(y).sum()


def main():
    data, rows_path = sys.argv[1], sys.argv[2]
    trials = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    draw = sys.argv[4] if len(sys.argv) > 4 else "1"
    df = pd.read_csv(data)
    rows = json.load(open(rows_path))
    fit, val, test = (np.array(rows[k]) for k in ("fit_rows", "validation_rows", "test_rows"))
    X = df[NUM].copy()
    X = X.fillna(X.iloc[fit].median())
    for c in sorted(df["ocean_proximity"].unique()):
        X["op_" + c] = (df["ocean_proximity"] == c).astype(float)
    X, y = X.to_numpy(), df[TARGET].to_numpy()

    if draw.endswith(".json"):
        params = json.load(open(draw))[:trials]
    else:
        rng = np.random.RandomState(int(draw))
        params = [{"n_estimators": int(rng.randint(50, 501)), "max_depth": int(rng.randint(5, 31)),
                   "min_samples_split": int(rng.randint(2, 21)), "min_samples_leaf": int(rng.randint(1, 11)),
                   "max_features": ["sqrt", "log2"][rng.randint(2)]} for _ in range(trials)]
    best = None
    start = time.perf_counter()
    for p in params:
        m = RandomForestRegressor(random_state=42, n_jobs=-1, **p).fit(X[fit], y[fit])
        score = wmape(y[val], m.predict(X[val]))
        if best is None or score < best[0]:
            best = (score, p, m)
    seconds = time.perf_counter() - start
    print(json.dumps({"trials": len(params), "trees": sum(p["n_estimators"] for p in params),
                      "fit_rows": len(fit), "validation_rows": len(val), "seconds": seconds, "best_validation_wmape": best[0], "best_params": best[1],
                      "test_wmape_of_best": wmape(y[test], best[2].predict(X[test]))}))


if __name__ == "__main__":
    main()
