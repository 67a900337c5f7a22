// Package rawjson reads JSON laid out exactly as encoding/json.Marshal
// writes it (no white space, fields in struct order), fast, for the model
// decoders: a saved forest is megabytes of base64 strings, and
// encoding/json scans every byte of them several times (validation, then
// decoding, then again inside each field's UnmarshalJSON). A Cursor
// instead jumps over strings with a byte search and hands base64 straight
// to the decoder.
//
// A Cursor validates only the structure it is asked for; callers decode
// the pieces it returns with encoding/json (small parts) or Base64 (big
// arrays), which validate their content. Anything that is not in the
// expected layout makes a method return false, and the caller falls back to
// encoding/json, which accepts every valid spelling.
package rawjson

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
)

// Cursor reads data from Pos on.
type Cursor struct {
	Data []byte
	Pos  int
}

// Lit consumes lit, which must come next byte for byte.
func (c *Cursor) Lit(lit string) bool {
	if len(c.Data)-c.Pos < len(lit) || string(c.Data[c.Pos:c.Pos+len(lit)]) != lit {
		return false
	}
	c.Pos += len(lit)
	return true
}

// Peek reports whether the next byte is b.
func (c *Cursor) Peek(b byte) bool { return c.Pos < len(c.Data) && c.Data[c.Pos] == b }

// Done reports whether all of Data has been read.
func (c *Cursor) Done() bool { return c.Pos == len(c.Data) }

// Value consumes one JSON value and returns its bytes. It checks only
// that strings end and brackets balance; the caller decodes (and so
// validates) what it returns.
func (c *Cursor) Value() ([]byte, bool) {
	start := c.Pos
	if c.Pos >= len(c.Data) {
		return nil, false
	}
	switch c.Data[c.Pos] {
	case '"':
		_, ok := c.rawString()
		return c.Data[start:c.Pos], ok
	case '{', '[':
		return c.nested(start)
	}
	// A number or literal runs to the next delimiter.
	for c.Pos < len(c.Data) && !isDelim(c.Data[c.Pos]) {
		c.Pos++
	}
	return c.Data[start:c.Pos], c.Pos > start
}

// nested consumes the object or array starting at Pos.
func (c *Cursor) nested(start int) ([]byte, bool) {
	depth := 0
	for c.Pos < len(c.Data) {
		switch c.Data[c.Pos] {
		case '"':
			if _, ok := c.rawString(); !ok {
				return nil, false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				c.Pos++
				return c.Data[start:c.Pos], true
			}
		}
		c.Pos++
	}
	return nil, false
}

func isDelim(b byte) bool {
	switch b {
	case ',', ':', '}', ']', '"', '{', '[':
		return true
	}
	return false
}

// rawString consumes a string starting at Pos and returns its content
// (escapes left as they are).
func (c *Cursor) rawString() ([]byte, bool) {
	start := c.Pos + 1
	i := start
	for {
		j := bytes.IndexByte(c.Data[i:], '"')
		if j < 0 {
			return nil, false
		}
		i += j
		// The quote is escaped when an odd number of backslashes
		// precede it.
		k := i
		for k > start && c.Data[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			c.Pos = i + 1
			return c.Data[start:i], true
		}
		i++
	}
}

// PlainString consumes a string without escapes and returns its content
// (not a copy).
func (c *Cursor) PlainString() ([]byte, bool) {
	if !c.Peek('"') {
		return nil, false
	}
	save := c.Pos
	s, ok := c.rawString()
	if !ok || bytes.IndexByte(s, '\\') >= 0 {
		c.Pos = save
		return nil, false
	}
	return s, true
}

// Float64s decodes s, the base64 of little-endian IEEE-754 values (the
// JSON of ml.Float64s), into a new slice. Like every decoder here it takes
// only the spelling encoding/json writes (standard alphabet, padded, no
// line breaks, zero padding bits), so that encoding the result gives s back
// exactly.
func Float64s(s []byte) ([]float64, error) {
	n, err := decodedLen(s, 8)
	if err != nil {
		return nil, err
	}
	out := make([]float64, n/8)
	var buf [chunkBytes]byte
	for i := 0; i < len(s); i += chunkChars {
		b, err := decodeChunk(buf[:], s, i, n)
		if err != nil {
			return nil, err
		}
		o := out[i/chunkChars*(chunkBytes/8):]
		for j := range len(b) / 8 {
			o[j] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*j:]))
		}
	}
	return out, nil
}

// Int32s decodes s, the base64 of little-endian int32 values (the JSON of
// ml.Int32s), into a new slice, as strictly as Float64s.
func Int32s(s []byte) ([]int32, error) {
	n, err := decodedLen(s, 4)
	if err != nil {
		return nil, err
	}
	out := make([]int32, n/4)
	var buf [chunkBytes]byte
	for i := 0; i < len(s); i += chunkChars {
		b, err := decodeChunk(buf[:], s, i, n)
		if err != nil {
			return nil, err
		}
		o := out[i/chunkChars*(chunkBytes/4):]
		for j := range len(b) / 4 {
			o[j] = int32(binary.LittleEndian.Uint32(b[4*j:]))
		}
	}
	return out, nil
}

// decodedLen is the number of bytes padded base64 s holds, which must be
// a multiple of width.
func decodedLen(s []byte, width int) (int, error) {
	if len(s)%4 != 0 {
		return 0, fmt.Errorf("base64 of %d characters is not padded to a multiple of 4", len(s))
	}
	n := len(s) / 4 * 3
	for k := 1; k <= 2 && k <= len(s) && s[len(s)-k] == '='; k++ {
		n--
	}
	if n%width != 0 {
		return 0, fmt.Errorf("%d bytes is not a multiple of %d", n, width)
	}
	return n, nil
}

// chunkChars is how much base64 Float64s and Int32s decode at a time,
// into chunkBytes on the stack: a multiple of every value width.
const (
	chunkChars = 4096
	chunkBytes = chunkChars / 4 * 3
)

// decodeChunk decodes the chunk of s (n bytes in all) that starts at
// character i into buf. A chunk that decodes to fewer bytes than its
// length says (line breaks, which the decoder skips) is refused.
func decodeChunk(buf, s []byte, i, n int) ([]byte, error) {
	chunk := s[i:min(i+chunkChars, len(s))]
	at := i / chunkChars * chunkBytes
	want := min(len(buf), n-at)
	got, err := base64.StdEncoding.Strict().Decode(buf, chunk)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	if got != want {
		return nil, fmt.Errorf("base64 holds %d bytes where its length says %d", at+got, at+want)
	}
	return buf[:got], nil
}
