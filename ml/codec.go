package ml

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// Float64s is a []float64 that marshals to JSON as base64 of its
// little-endian IEEE-754 bytes. Large fitted arrays (tree nodes, centroids)
// use it so saved models stay compact and round-trip bit-identically.
type Float64s []float64

// MarshalJSON implements json.Marshaler.
func (f Float64s) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 8*len(f))
	for i, v := range f {
		binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
	}
	return json.Marshal(buf)
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float64s) UnmarshalJSON(data []byte) error {
	var buf []byte
	if err := json.Unmarshal(data, &buf); err != nil {
		return fmt.Errorf("ml: packed float64s: %w", err)
	}
	if len(buf)%8 != 0 {
		return fmt.Errorf("ml: packed float64s: %d bytes is not a multiple of 8", len(buf))
	}
	out := make([]float64, len(buf)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
	}
	*f = out
	return nil
}

// Int32s is a []int32 that marshals to JSON as base64 of its little-endian
// bytes, for the same reason as Float64s.
type Int32s []int32

// MarshalJSON implements json.Marshaler.
func (s Int32s) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 4*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint32(buf[4*i:], uint32(v))
	}
	return json.Marshal(buf)
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *Int32s) UnmarshalJSON(data []byte) error {
	var buf []byte
	if err := json.Unmarshal(data, &buf); err != nil {
		return fmt.Errorf("ml: packed int32s: %w", err)
	}
	if len(buf)%4 != 0 {
		return fmt.Errorf("ml: packed int32s: %d bytes is not a multiple of 4", len(buf))
	}
	out := make([]int32, len(buf)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	*s = out
	return nil
}
