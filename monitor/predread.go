package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
)

var rotatedLogPattern = regexp.MustCompile(`^predictions-([0-9]+)\.jsonl$`)

// logFiles lists the prediction log files of dir, oldest first: rotated
// files from the highest number down, then the active file.
func logFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("prediction log: %w", err)
	}
	type numbered struct {
		n    int
		name string
	}
	var rotated []numbered
	active := false
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if e.Name() == activeLogName {
			active = true
		} else if m := rotatedLogPattern.FindStringSubmatch(e.Name()); m != nil {
			n, err := strconv.Atoi(m[1])
			if err == nil {
				rotated = append(rotated, numbered{n, e.Name()})
			}
		}
	}
	slices.SortFunc(rotated, func(a, b numbered) int { return b.n - a.n })
	var files []string
	for _, r := range rotated {
		files = append(files, filepath.Join(dir, r.name))
	}
	if active {
		files = append(files, filepath.Join(dir, activeLogName))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("prediction log: no %s or predictions-N.jsonl in %s", activeLogName, dir)
	}
	return files, nil
}

// ReadPredictionLog reads every record of the prediction log in dir (oldest
// first) into a table of the request features: a feature whose values are
// JSON numbers becomes a numeric column, one with strings (or booleans) a
// categorical column; absent or null values are missing. A last line cut
// short by a crash (no newline, not valid JSON) is skipped; any other bad
// line is an error naming the file and line.
func ReadPredictionLog(dir string) (*Table, error) {
	files, err := logFiles(dir)
	if err != nil {
		return nil, err
	}
	b := newTableBuilder()
	for _, path := range files {
		if err := readLogFile(path, b); err != nil {
			return nil, err
		}
	}
	return b.table(), nil
}

func readLogFile(path string, b *tableBuilder) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("prediction log: %w", err)
	}
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec struct {
			Features map[string]any `json:"features"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			if i == len(lines)-1 {
				continue // torn final write
			}
			return fmt.Errorf("prediction log: %s:%d: %w", filepath.Base(path), i+1, err)
		}
		if err := b.add(rec.Features); err != nil {
			return fmt.Errorf("prediction log: %s:%d: %w", filepath.Base(path), i+1, err)
		}
	}
	return nil
}

// tableBuilder accumulates rows with a per-column type fixed by the first
// non-missing value.
type tableBuilder struct {
	rows int
	num  map[string][]float64
	cat  map[string][]string
}

func newTableBuilder() *tableBuilder {
	return &tableBuilder{num: map[string][]float64{}, cat: map[string][]string{}}
}

func (b *tableBuilder) add(features map[string]any) error {
	for name, v := range features {
		if err := b.set(name, v); err != nil {
			return err
		}
	}
	b.rows++
	// Columns absent from this row are missing in it.
	for name, col := range b.num {
		if len(col) < b.rows {
			b.num[name] = append(col, math.NaN())
		}
	}
	for name, col := range b.cat {
		if len(col) < b.rows {
			b.cat[name] = append(col, "")
		}
	}
	return nil
}

// set stores row b.rows of column name.
func (b *tableBuilder) set(name string, v any) error {
	if v == nil {
		return nil
	}
	switch x := v.(type) {
	case float64:
		if _, isCat := b.cat[name]; isCat {
			return fmt.Errorf("feature %q: number %v in a categorical feature", name, x)
		}
		b.num[name] = append(b.padNum(name), x)
	case string, bool:
		s := fmt.Sprint(x)
		if _, isNum := b.num[name]; isNum {
			return fmt.Errorf("feature %q: %q in a numeric feature", name, s)
		}
		b.cat[name] = append(b.padCat(name), s)
	default:
		return errors.New("feature " + strconv.Quote(name) + ": not a number, string or boolean")
	}
	return nil
}

// padNum returns the column filled with NaN up to the current row, for a
// feature first seen after some rows.
func (b *tableBuilder) padNum(name string) []float64 {
	col := b.num[name]
	for len(col) < b.rows {
		col = append(col, math.NaN())
	}
	return col
}

func (b *tableBuilder) padCat(name string) []string {
	col := b.cat[name]
	for len(col) < b.rows {
		col = append(col, "")
	}
	return col
}

func (b *tableBuilder) table() *Table {
	return &Table{Numeric: b.num, Categorical: b.cat}
}
