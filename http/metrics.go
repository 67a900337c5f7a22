package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series, on a private registry so that
// several servers (tests) never share state.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	predicted  prometheus.Histogram
	instances  prometheus.Histogram
	modelInfo  *prometheus.GaugeVec
	loads      *prometheus.CounterVec
	reloads    *prometheus.CounterVec
	observeErr prometheus.Counter
	versions   *versionMetrics
}

func newMetrics(cfg Config, drift DriftSource) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlops_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mlops_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		predicted: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mlops_predicted_value", Help: "Predicted values (point predictions).",
			Buckets: cfg.PredictionBuckets,
		}),
		instances: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mlops_predict_instances", Help: "Instances per predict request.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mlops_model_info", Help: "The loaded model (value 1): name, version, sha256 and the source that served it.",
		}, []string{"name", "version", "sha256", "source"}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlops_model_load_attempts_total", Help: "Model load attempts by source and result.",
		}, []string{"source", "result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlops_model_reloads_total", Help: "Hot reloads by trigger and result.",
		}, []string{"trigger", "result"}),
		observeErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mlops_observer_panics_total", Help: "Observer calls that panicked (predictions were still served).",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.predicted, m.instances, m.modelInfo, m.loads, m.reloads, m.observeErr,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.versions = newVersionMetrics(m.reg)
	if drift != nil {
		m.reg.MustRegister(&driftCollector{src: drift})
	}
	return m
}

func (m *metrics) observeRequest(method, route string, status int, d time.Duration) {
	if status == 0 {
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) observePredictions(preds []Prediction) {
	m.instances.Observe(float64(len(preds)))
	for _, p := range preds {
		m.predicted.Observe(p.Value)
	}
}

// setModel makes the model-info gauge name exactly the loaded model.
func (m *metrics) setModel(info ModelInfo, source string, old *loaded) {
	if old != nil {
		m.modelInfo.DeleteLabelValues(old.info.Name, old.info.Version, old.info.SHA256, old.source)
	}
	m.modelInfo.WithLabelValues(info.Name, info.Version, info.SHA256, source).Set(1)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// driftCollector reads the drift scores at scrape time, so the gauge is
// never stale and nothing runs between scrapes.
type driftCollector struct{ src DriftSource }

var driftDesc = prometheus.NewDesc("mlops_feature_drift_psi",
	"Population stability index of each feature over the monitor's sliding window versus the training reference.",
	[]string{"feature"}, nil)

// Describe implements prometheus.Collector.
func (c *driftCollector) Describe(ch chan<- *prometheus.Desc) { ch <- driftDesc }

// Collect implements prometheus.Collector.
func (c *driftCollector) Collect(ch chan<- prometheus.Metric) {
	for f, v := range c.src.PSI() {
		ch <- prometheus.MustNewConstMetric(driftDesc, prometheus.GaugeValue, v, f)
	}
}
