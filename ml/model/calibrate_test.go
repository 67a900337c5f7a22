package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/ml/ensemble"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/linear"
)

// halves splits the test frame into a calibration half and an evaluation
// half (alternate rows, so both see the same distribution).
func halves(t *testing.T, te *frame.Frame) (cal, eval *frame.Frame) {
	t.Helper()
	var a, b []int
	for i := 0; i < te.NumRows(); i++ {
		if i%2 == 0 {
			a = append(a, i)
		} else {
			b = append(b, i)
		}
	}
	return te.Select(a), te.Select(b)
}

func targetOf(t *testing.T, f *frame.Frame) []float64 {
	t.Helper()
	y, err := f.Numeric(target)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func TestCalibrateIntervalsCoversHeldOutRows(t *testing.T) {
	tr, te := data(t)
	cal, eval := halves(t, te)
	yCal, yEval := targetOf(t, cal), targetOf(t, eval)
	forest := ensemble.NewRandomForest(ensemble.ForestParams{NEstimators: 20, Bootstrap: true, MaxDepth: 12,
		MinSamplesLeaf: 2, MaxFeatures: "log2", Seed: 5})
	for _, a := range []*Artifact{train(t, tr, forest), train(t, tr, linear.NewRidge(1))} {
		kind := a.ModelKind()
		sumBefore := a.SHA256()
		before, after, err := a.CalibrateIntervals(cal, yCal, 0.9)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if after < 0.9 || after < before {
			t.Errorf("%s: coverage on the calibration rows %.3f -> %.3f", kind, before, after)
		}
		if a.SHA256() == sumBefore {
			t.Errorf("%s: calibration did not re-seal the artifact", kind)
		}
		lo, hi, err := a.PredictInterval(eval, 0.9)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		got := coverage(yEval, lo, hi)
		t.Logf("%s: calibration coverage %.3f -> %.3f; held-out coverage %.3f (%d rows)", kind, before, after, got, len(yEval))
		if got < 0.85 || got > 0.95 {
			t.Errorf("%s: held-out coverage %.3f, want 0.85..0.95", kind, got)
		}
		pred, err := a.Predict(eval)
		if err != nil {
			t.Fatal(err)
		}
		for i := range pred {
			if !(lo[i] <= pred[i] && pred[i] <= hi[i]) {
				t.Fatalf("%s row %d: prediction %v outside [%v, %v]", kind, i, pred[i], lo[i], hi[i])
			}
		}
		// The calibration is part of the file: it survives save and load
		// bit for bit, and re-saving reproduces the file.
		b, saved := roundTrip(t, a)
		lo2, hi2, err := b.PredictInterval(eval, 0.9)
		if err != nil || !sameBits(lo, lo2) || !sameBits(hi, hi2) {
			t.Errorf("%s: calibrated intervals differ after load (%v)", kind, err)
		}
		if b.Calibration == nil || *b.Calibration != *a.Calibration || b.SHA256() != a.SHA256() {
			t.Errorf("%s: calibration after load %+v, before %+v", kind, b.Calibration, a.Calibration)
		}
		if _, again := roundTrip(t, b); string(again) != string(saved) {
			t.Errorf("%s: re-saved calibrated file differs", kind)
		}
	}
}

func TestCalibrationAppliesOnlyAtItsLevel(t *testing.T) {
	tr, te := data(t)
	ridge := train(t, tr, linear.NewRidge(1))
	if _, _, err := ridge.CalibrateIntervals(te, targetOf(t, te), 0.8); err != nil {
		t.Fatal(err)
	}
	if ridge.Calibration.Method != CalibAbsResidual || !(ridge.Calibration.Margin > 0) {
		t.Errorf("ridge calibration %+v", ridge.Calibration)
	}
	if _, _, err := ridge.PredictInterval(te, 0.9); !errors.Is(err, ErrNoIntervals) {
		t.Errorf("ridge at an uncalibrated level: %v, want ErrNoIntervals", err)
	}
	lo, hi, err := ridge.PredictInterval(te, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	if w := hi[0] - lo[0]; w != 2*ridge.Calibration.Margin {
		t.Errorf("width %v, margin %v", w, ridge.Calibration.Margin)
	}
}

func TestCalibrateIntervalsRejectsBadInput(t *testing.T) {
	tr, te := data(t)
	a := train(t, tr, linear.NewRidge(1))
	sum := a.SHA256()
	small := te.Select([]int{0, 1, 2})
	y := targetOf(t, te)
	cases := map[string]func() error{
		"level":   func() error { _, _, err := a.CalibrateIntervals(te, y, 1); return err },
		"rows":    func() error { _, _, err := a.CalibrateIntervals(te, y[:5], 0.9); return err },
		"too few": func() error { _, _, err := a.CalibrateIntervals(small, y[:3], 0.9); return err },
	}
	for name, run := range cases {
		if err := run(); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if a.Calibration != nil || a.SHA256() != sum {
		t.Error("a failed calibration changed the artifact")
	}
}

// TestPredictMatrixWithIntervalMatchesSeparateCalls checks the one-pass
// path the server uses against Predict and IntervalsFromMatrix, bit for
// bit, raw and calibrated.
func TestPredictMatrixWithIntervalMatchesSeparateCalls(t *testing.T) {
	tr, te := data(t)
	cal, eval := halves(t, te)
	forest := train(t, tr, ensemble.NewRandomForest(ensemble.ForestParams{NEstimators: 12, Bootstrap: true, MaxDepth: 8, Seed: 2}))
	ridge := train(t, tr, linear.NewRidge(1))
	check := func(name string, a *Artifact, level float64, wantInterval bool) {
		t.Helper()
		X, err := a.Transform(eval)
		if err != nil {
			t.Fatal(err)
		}
		pred, lo, hi, err := a.PredictMatrixWithInterval(X, level)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, _ := a.Regressor.Predict(X)
		if !sameBits(pred, want) {
			t.Errorf("%s: predictions differ from Predict", name)
		}
		if !wantInterval {
			if lo != nil || hi != nil {
				t.Errorf("%s: got an interval", name)
			}
			return
		}
		wlo, whi, err := a.IntervalsFromMatrix(X, want, level)
		if err != nil || !sameBits(lo, wlo) || !sameBits(hi, whi) {
			t.Errorf("%s: interval differs from IntervalsFromMatrix (%v)", name, err)
		}
	}
	check("raw forest", forest, 0.9, true)
	check("ridge", ridge, 0.9, false)
	for _, a := range []*Artifact{forest, ridge} {
		if _, _, err := a.CalibrateIntervals(cal, targetOf(t, cal), 0.9); err != nil {
			t.Fatal(err)
		}
	}
	check("calibrated forest", forest, 0.9, true)
	check("calibrated forest, other level", forest, 0.8, true)
	check("calibrated ridge", ridge, 0.9, true)
	check("calibrated ridge, other level", ridge, 0.8, false)
}

// TestSplitEnvelopeMatchesJSON checks the envelope fast path against
// encoding/json on a saved file, and that other layouts fall back to it.
func TestSplitEnvelopeMatchesJSON(t *testing.T) {
	tr, _ := data(t)
	_, saved := roundTrip(t, train(t, tr, linear.NewRidge(1)))
	fast, ok := splitEnvelope(saved)
	if !ok {
		t.Fatal("a saved file did not take the fast path")
	}
	var want envelope
	if err := json.Unmarshal(saved, &want); err != nil {
		t.Fatal(err)
	}
	if fast.Magic != want.Magic || fast.FormatVersion != want.FormatVersion || fast.SHA256 != want.SHA256 || !bytes.Equal(fast.Payload, want.Payload) {
		t.Errorf("fast path %+v differs from encoding/json", fast)
	}
	s := string(saved)
	for name, other := range map[string]string{
		"spaced":    strings.Replace(s, `"format_version":1`, `"format_version": 1`, 1),
		"reordered": strings.Replace(s, `,"sha256":"`, `,"sha_256":"`, 1),
		"truncated": s[:len(s)/2],
		"trailing":  s + "x",
	} {
		if _, ok := splitEnvelope([]byte(other)); ok {
			t.Errorf("%s: took the fast path", name)
		}
	}
	// A file with another (valid) layout still loads through encoding/json.
	spaced := strings.Replace(s, `{"magic":"housing-mlops/model",`, `{ "magic":"housing-mlops/model", `, 1)
	if _, err := Load(strings.NewReader(spaced)); err == nil || !strings.Contains(err.Error(), "not a model artifact") {
		// The magic prefix is required verbatim, so this is refused early.
		t.Errorf("spaced magic: %v", err)
	}
	fieldSpaced := strings.Replace(s, `"format_version":1`, `"format_version": 1`, 1)
	if a, err := Load(strings.NewReader(fieldSpaced)); err != nil || a.SHA256() != want.SHA256 {
		t.Errorf("a valid envelope of another layout did not load: %v", err)
	}
}
