package pipeline

import (
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressEvery is how often a non-interactive Progress logs a line.
const progressEvery = 5 * time.Second

// Progress reports a long loop: a bar on a terminal, a log line every few
// seconds otherwise (CI logs and JSON logs stay readable). It is safe for
// concurrent Add calls.
type Progress struct {
	mu    sync.Mutex
	log   *slog.Logger
	bar   *progressbar.ProgressBar
	what  string
	total int
	done  int
	start time.Time
	last  time.Time
}

// newProgress draws a bar on out when out is not nil (the runner sets it only
// for a terminal) and logs otherwise.
func newProgress(log *slog.Logger, out io.Writer, total int, what string) *Progress {
	p := &Progress{log: log, what: what, total: total, start: time.Now()}
	p.last = p.start
	if out != nil {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(out),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetRenderBlankState(true), // show the bar before the first tick
		)
	}
	return p
}

// Add records n finished iterations.
func (p *Progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.bar != nil {
		_ = p.bar.Add(n) // a terminal write error must not fail the step
		return
	}
	if now := time.Now(); now.Sub(p.last) >= progressEvery {
		p.last = now
		p.log.Info("progress", "what", p.what, "done", p.done, "total", p.total,
			"elapsed", now.Sub(p.start).Round(time.Second).String())
	}
}

// Done closes the bar and logs the loop's duration.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
	p.log.Info("progress done", "what", p.what, "done", p.done, "total", p.total,
		"seconds", time.Since(p.start).Seconds())
}
