package monitor

import (
	"fmt"

	"github.com/housing-mlops/mlops/ml/frame"
)

// FromFrame converts an ml/frame.Frame into a Table. The column slices are
// shared with the frame, not copied: drift computations only read them.
func FromFrame(f *frame.Frame) (*Table, error) {
	t := NewTable()
	for _, name := range f.Names() {
		kind, err := f.Kind(name)
		if err != nil {
			return nil, fmt.Errorf("monitor: %w", err)
		}
		switch kind {
		case frame.Numeric:
			v, err := f.Numeric(name)
			if err != nil {
				return nil, fmt.Errorf("monitor: %w", err)
			}
			t.Numeric[name] = v
		case frame.Categorical:
			v, err := f.Categorical(name)
			if err != nil {
				return nil, fmt.Errorf("monitor: %w", err)
			}
			t.Categorical[name] = v
		default:
			return nil, fmt.Errorf("monitor: column %q has unsupported kind %v", name, kind)
		}
	}
	return t, nil
}
