package frame

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// CSVOptions controls how ReadCSV types columns.
//
// Without options a column is numeric when every non-missing value parses as
// a finite number, and categorical otherwise.
type CSVOptions struct {
	// Categorical names columns read as strings whatever they contain
	// (e.g. zip codes, where "01234" must keep its leading zero).
	Categorical []string
	// Numeric names columns that must be numeric: a value that does not
	// parse is an error naming the file, line and column.
	Numeric []string
}

// isMissing reports whether a raw CSV field marks a missing value. The tokens
// are the ones pandas reads as NaN by default that occur in practice.
func isMissing(s string) bool {
	switch s {
	case "", "NA", "NaN", "nan":
		return true
	}
	return false
}

// parseNumber parses a numeric field. Missing tokens give NaN; infinities are
// refused so that a matrix built from a frame never holds Inf.
func parseNumber(s string) (float64, bool) {
	if v, ok := parseSimpleDecimal(s); ok {
		return v, true
	}
	s = strings.TrimSpace(s)
	if isMissing(s) {
		return math.NaN(), true
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseSimpleDecimal is a fast path for the plain decimals that fill data
// files ("-122.23", "880.0"): with at most 15 significant digits both the
// digit string and the power of ten are exact float64 values, so one IEEE
// division gives the correctly rounded result, the same bits ParseFloat
// returns. Anything else (exponents, long mantissas, spaces) reports !ok and
// goes through strconv.ParseFloat.
// cyclomatic: a single byte loop with its sign, digit and dot checks inline; it runs once per CSV field, and helpers would only add calls there.
func parseSimpleDecimal(s string) (float64, bool) {
	i, neg := 0, false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		i++
	}
	var mant uint64
	digits, frac, sawDot := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if mant != 0 || c != '0' {
				digits++
			}
			mant = mant*10 + uint64(c-'0')
			if sawDot {
				frac++
			}
		case c == '.' && !sawDot:
			sawDot = true
		default:
			return 0, false
		}
	}
	if digits > 15 || frac >= len(pow10) || len(s) == 0 || s == "." || s == "-" || s == "+" ||
		s == "-." || s == "+." {
		return 0, false
	}
	v := float64(mant) / pow10[frac]
	if neg {
		v = -v
	}
	return v, true
}

// ReadCSVFile reads the CSV file at path; errors name the file's base name.
func ReadCSVFile(path string, opts CSVOptions) (*Frame, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("frame: %w", err)
	}
	defer fh.Close()
	return ReadCSV(bufio.NewReaderSize(fh, 1<<16), filepath.Base(path), opts)
}

// ReadCSV reads a CSV table with a header row from r. name (usually the file
// name) prefixes every error, with the 1-based line number where it applies:
// `housing.csv:17: column "total_rooms": "abc" is not a number`.
//
// Fields are trimmed of surrounding spaces. "", "NA", "NaN" and "nan" are
// missing values in either kind of column (NaN or ""). Infinite values are
// not numbers. A file with a header and no rows gives an empty frame.
func ReadCSV(r io.Reader, name string, opts CSVOptions) (*Frame, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var t *table
	if bytes.IndexByte(data, '"') < 0 {
		t, err = splitPlain(data, name)
	} else {
		t, err = splitQuoted(data, name)
	}
	if err != nil {
		return nil, err
	}
	kinds, err := headerKinds(t.header, name, opts)
	if err != nil {
		return nil, err
	}
	f := &Frame{}
	for j, colName := range t.header {
		if err := addParsed(f, colName, j, kinds[j], t, name); err != nil {
			return nil, err
		}
	}
	f.rows = len(t.lines)
	return f, nil
}

// table is a CSV file split into fields: cells holds the data rows
// row-major, lines the 1-based line number where each row starts.
type table struct {
	header []string
	cells  []string
	lines  []int
}

func (t *table) cell(i, j int) string { return t.cells[i*len(t.header)+j] }

// addRow appends one record, checking its width against the header.
func (t *table) addRow(rec []string, line int, name string) error {
	if t.header == nil {
		t.header = append([]string(nil), rec...)
		t.header[0] = strings.TrimPrefix(t.header[0], "\ufeff") // BOM from spreadsheet exports
		return nil
	}
	if len(rec) != len(t.header) {
		return fmt.Errorf("%s:%d: got %d fields, want %d", name, line, len(rec), len(t.header))
	}
	t.cells = append(t.cells, rec...)
	t.lines = append(t.lines, line)
	return nil
}

// splitPlain splits a file without any double quote, where CSV is just
// lines of comma-separated fields. It is several times faster than
// encoding/csv because every field is a substring of one string. Like
// encoding/csv it accepts \r\n line ends and skips empty lines.
func splitPlain(data []byte, name string) (*table, error) {
	text := string(data)
	t := &table{}
	var rec []string
	// Size the cell slice once: growing a slice of 200k strings by doubling
	// costs more (copying, write barriers, GC scans) than the parsing.
	if k := strings.IndexByte(text, '\n'); k > 0 {
		lines := strings.Count(text, "\n") + 1
		cols := strings.Count(text[:k], ",") + 1
		t.cells = make([]string, 0, lines*cols)
		t.lines = make([]int, 0, lines)
	}
	for lineNo := 1; len(text) > 0; lineNo++ {
		line := text
		if k := strings.IndexByte(text, '\n'); k >= 0 {
			line, text = text[:k], text[k+1:]
		} else {
			text = ""
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		rec = rec[:0]
		for {
			k := strings.IndexByte(line, ',')
			if k < 0 {
				rec = append(rec, line)
				break
			}
			rec = append(rec, line[:k])
			line = line[k+1:]
		}
		if err := t.addRow(rec, lineNo, name); err != nil {
			return nil, err
		}
	}
	if t.header == nil {
		return nil, fmt.Errorf("%s: empty file: no header row", name)
	}
	return t, nil
}

// splitQuoted splits a file with quoted fields using encoding/csv.
func splitQuoted(data []byte, name string) (*table, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1 // checked by addRow so the error says what we want
	cr.ReuseRecord = true
	t := &table{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if err := t.addRow(rec, line, name); err != nil {
			return nil, err
		}
	}
	if t.header == nil {
		return nil, fmt.Errorf("%s: empty file: no header row", name)
	}
	return t, nil
}

// forced says how CSVOptions pinned a column's kind.
type forced int

const (
	auto forced = iota
	forceNumeric
	forceCategorical
)

// headerKinds validates the header and the options against it.
func headerKinds(header []string, name string, opts CSVOptions) ([]forced, error) {
	pos := make(map[string]int, len(header))
	for j, h := range header {
		if h == "" {
			return nil, fmt.Errorf("%s:1: column %d has an empty name", name, j+1)
		}
		if k, dup := pos[h]; dup {
			return nil, fmt.Errorf("%s:1: duplicate column name %q (columns %d and %d)", name, h, k+1, j+1)
		}
		pos[h] = j
	}
	kinds := make([]forced, len(header))
	set := func(cols []string, k forced, what string) error {
		for _, c := range cols {
			j, ok := pos[c]
			if !ok {
				return fmt.Errorf("%s: %s column %q is not in the header %v", name, what, c, header)
			}
			if kinds[j] != auto && kinds[j] != k {
				return fmt.Errorf("%s: column %q is asked to be both numeric and categorical", name, c)
			}
			kinds[j] = k
		}
		return nil
	}
	if err := set(opts.Numeric, forceNumeric, "numeric"); err != nil {
		return nil, err
	}
	if err := set(opts.Categorical, forceCategorical, "categorical"); err != nil {
		return nil, err
	}
	return kinds, nil
}

// addParsed types column j of t and appends it to f.
func addParsed(f *Frame, colName string, j int, k forced, t *table, name string) error {
	rows := len(t.lines)
	if k != forceCategorical {
		num := make([]float64, rows)
		ok := true
		for i := range num {
			v, good := parseNumber(t.cell(i, j))
			if !good {
				if k == forceNumeric {
					return fmt.Errorf("%s:%d: column %q: %q is not a number", name, t.lines[i], colName, t.cell(i, j))
				}
				ok = false
				break
			}
			num[i] = v
		}
		if ok {
			return f.AddNumeric(colName, num)
		}
	}
	cat := make([]string, rows)
	for i := range cat {
		if s := strings.TrimSpace(t.cell(i, j)); !isMissing(s) {
			cat[i] = s
		}
	}
	return f.AddCategorical(colName, cat)
}

// ReadCSVArchive reads the single CSV file held by a gzip-compressed tar
// archive (.tgz / .tar.gz) at path.
func ReadCSVArchive(path string, opts CSVOptions) (*Frame, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("frame: %w", err)
	}
	defer fh.Close()
	return ReadArchive(bufio.NewReaderSize(fh, 1<<16), filepath.Base(path), opts)
}

// ReadArchive reads the single CSV file held by the gzip-compressed tar
// stream r; name names the archive in errors. Directories and macOS resource
// forks ("._x.csv") are skipped; zero or several CSV files is an error.
func ReadArchive(r io.Reader, name string, opts CSVOptions) (*Frame, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: not a gzip archive: %w", name, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var found *Frame
	var foundName string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading tar: %w", name, err)
		}
		base := path.Base(hdr.Name)
		if hdr.Typeflag != tar.TypeReg || strings.HasPrefix(base, "._") ||
			!strings.EqualFold(path.Ext(base), ".csv") {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%s: holds several CSV files (%s, %s); want one", name, foundName, hdr.Name)
		}
		f, err := ReadCSV(tr, name+":"+hdr.Name, opts)
		if err != nil {
			return nil, err
		}
		found, foundName = f, hdr.Name
	}
	if found == nil {
		return nil, fmt.Errorf("%s: holds no CSV file", name)
	}
	return found, nil
}

// WriteCSV writes f with a header row. Numbers use the shortest text that
// reads back to the same float64; missing values are written as empty fields.
func (f *Frame) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(f.Names()); err != nil {
		return fmt.Errorf("frame: write csv: %w", err)
	}
	rec := make([]string, len(f.cols))
	buf := make([]byte, 0, 32)
	for i := 0; i < f.rows; i++ {
		for j, c := range f.cols {
			if c.kind == Categorical {
				rec[j] = c.cat[i]
				continue
			}
			v := c.num[i]
			if math.IsNaN(v) {
				rec[j] = ""
				continue
			}
			buf = strconv.AppendFloat(buf[:0], v, 'g', -1, 64)
			rec[j] = string(buf)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("frame: write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("frame: write csv: %w", err)
	}
	return nil
}
