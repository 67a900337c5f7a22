package pipeline

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestProgressLogsWithoutTerminalAndDrawsOnOne(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	p := newProgress(log, nil, 100, "fits")
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				p.Add(1)
			}
		}()
	}
	wg.Wait()
	p.Done()
	if !strings.Contains(logs.String(), "done=100 total=100") {
		t.Fatalf("log: %s", logs.String())
	}
	var bar bytes.Buffer
	logs.Reset()
	q := newProgress(log, &bar, 10, "fits")
	q.Add(10)
	q.Done()
	if bar.Len() == 0 {
		t.Fatal("no bar drawn on the terminal writer")
	}
}
