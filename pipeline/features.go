package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/housing-mlops/mlops/chart"
	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/cluster"
)

// Features is step 03: choose K for KMeans on the geo columns by silhouette
// (or take the configured K), then build and fit the whole preprocessing
// (numeric impute+scale, one-hot, geo clusters) and save it.
type Features struct{ Cfg *config.Config }

// Name implements Step.
func (s *Features) Name() string { return "03_feature_engineering" }

// Inputs implements Step.
func (s *Features) Inputs() []string { return []string{KeyImputed} }

// Outputs implements Step.
func (s *Features) Outputs() []string { return []string{KeyPreprocessor} }

// Params implements Step.
func (s *Features) Params() map[string]any {
	return map[string]any{"feature_engineering": s.Cfg.FeatureEngineering, "schema": s.Cfg.Data}
}

// kScore is what one K measured.
type kScore struct {
	K                       int
	Silhouette, DB, Inertia float64
}

// Run implements Step.
func (s *Features) Run(ctx context.Context, sc *StepContext) error {
	fe := s.Cfg.FeatureEngineering
	f, err := readFrame(ctx, sc, KeyImputed, s.Cfg.Data)
	if err != nil {
		return err
	}
	k := fe.NClusters
	if fe.Optimize && len(s.Cfg.Data.Geo) > 0 {
		geo, err := f.Matrix(s.Cfg.Data.Geo)
		if err != nil {
			return err
		}
		if k, err = s.chooseK(ctx, sc, geo); err != nil {
			return err
		}
	}
	sc.Log.Info("clusters", "k", k, "optimized", fe.Optimize)
	st, err := newPreprocessor(s.Cfg.Data, k, fe.NInit, uint64(fe.RandomState))
	if err != nil {
		return err
	}
	ct, err := st.transformer()
	if err != nil {
		return err
	}
	if err := ct.Fit(f); err != nil {
		return fmt.Errorf("fitting preprocessing: %w", err)
	}
	names := ct.FeatureNamesOut()
	sc.Log.Info("preprocessing fitted", "features_out", len(names), "names", names)
	if err := sc.Metrics(ctx, map[string]float64{"n_clusters": float64(k), "n_features_out": float64(len(names))}); err != nil {
		return err
	}
	if err := sc.Summary(ctx, "k", strconv.Itoa(k)); err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding preprocessing: %w", err)
	}
	_, err = sc.Write(ctx, KeyPreprocessor, b)
	return err
}

// chooseK fits KMeans for every K in range, logs silhouette, Davies-Bouldin
// and inertia per K, plots them and returns the K with the best silhouette
// (the smallest such K on ties).
func (s *Features) chooseK(ctx context.Context, sc *StepContext, geo *ml.Matrix) (int, error) {
	fe := s.Cfg.FeatureEngineering
	silX, silIdx := silhouetteSample(geo, fe.SilhouetteSample, uint64(fe.RandomState))
	var scores []kScore
	prog := sc.Progress(fe.KMax-fe.KMin+1, "kmeans K search")
	for k := fe.KMin; k <= fe.KMax; k++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		sk, err := scoreK(geo, silX, silIdx, k, fe)
		if err != nil {
			return 0, err
		}
		scores = append(scores, sk)
		for key, v := range map[string]float64{"silhouette": sk.Silhouette, "davies_bouldin": sk.DB, "inertia": sk.Inertia} {
			if err := sc.Metric(ctx, key, v, int64(k)); err != nil {
				return 0, err
			}
		}
		sc.Log.Info("k", "k", k, "silhouette", sk.Silhouette, "davies_bouldin", sk.DB, "inertia", sk.Inertia)
		prog.Add(1)
	}
	prog.Done()
	best := scores[0]
	for _, sk := range scores[1:] {
		if sk.Silhouette > best.Silhouette {
			best = sk
		}
	}
	if err := sc.Metrics(ctx, map[string]float64{"best_silhouette": best.Silhouette, "best_davies_bouldin": best.DB}); err != nil {
		return 0, err
	}
	return best.K, s.plotK(ctx, sc, scores)
}

func scoreK(geo, silX *ml.Matrix, silIdx []int, k int, fe config.FeatureEngineering) (kScore, error) {
	km := cluster.NewKMeans(k, uint64(fe.RandomState))
	km.NInit = fe.NInit
	if err := km.Fit(geo); err != nil {
		return kScore{}, fmt.Errorf("kmeans k=%d: %w", k, err)
	}
	labels := km.Labels()
	db, err := cluster.DaviesBouldin(geo, labels)
	if err != nil {
		return kScore{}, fmt.Errorf("davies-bouldin k=%d: %w", k, err)
	}
	silLabels := labels
	if silIdx != nil {
		silLabels = make([]int, len(silIdx))
		for i, r := range silIdx {
			silLabels[i] = labels[r]
		}
	}
	sil, err := cluster.Silhouette(silX, silLabels, 0)
	if err != nil {
		return kScore{}, fmt.Errorf("silhouette k=%d: %w", k, err)
	}
	return kScore{K: k, Silhouette: sil, DB: db, Inertia: km.Inertia}, nil
}

// silhouetteSample returns a seeded sample of n rows (all rows when n is 0
// or not smaller): silhouette costs O(rows²).
func silhouetteSample(X *ml.Matrix, n int, seed uint64) (*ml.Matrix, []int) {
	if n <= 0 || n >= X.Rows {
		return X, nil
	}
	perm := ml.NewRand(seed, 1).Perm(X.Rows)[:n]
	return X.SelectRows(perm), perm
}

func (s *Features) plotK(ctx context.Context, sc *StepContext, scores []kScore) error {
	ks := make([]float64, len(scores))
	sil, inertia := make([]float64, len(scores)), make([]float64, len(scores))
	for i, sk := range scores {
		ks[i], sil[i], inertia[i] = float64(sk.K), sk.Silhouette, sk.Inertia
	}
	for _, p := range []struct {
		key, title, ylabel string
		ys                 []float64
	}{{"elbow.svg", "Elbow method", "inertia", inertia}, {"silhouette.svg", "Silhouette by K", "silhouette", sil}} {
		svg, err := chart.LineChart{Options: plotOptions(p.title, "K", p.ylabel), IntegerX: true,
			Series: []chart.Series{{Name: p.ylabel, X: ks, Y: p.ys, Class: "s1", Draw: chart.LinesAndDots}}}.SVG()
		if err := savePlot(ctx, sc, p.key, svg, err); err != nil {
			return err
		}
	}
	return nil
}
