package frame

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const housingCSV = "../../testdata/housing.csv"

func read(t *testing.T, text string, opts CSVOptions) (*Frame, error) {
	t.Helper()
	return ReadCSV(strings.NewReader(text), "t.csv", opts)
}

func TestReadCSVInfersKindsAndMissing(t *testing.T) {
	f, err := read(t, "a,b,c\n1,x,\nNA,,2.5\nnan,y,NaN\n", CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.NumRows() != 3 || f.NumCols() != 3 {
		t.Fatalf("shape %dx%d, want 3x3", f.NumRows(), f.NumCols())
	}
	a, err := f.Numeric("a")
	if err != nil {
		t.Fatal(err)
	}
	if a[0] != 1 || !math.IsNaN(a[1]) || !math.IsNaN(a[2]) {
		t.Errorf("a = %v", a)
	}
	b, err := f.Categorical("b")
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != "x" || b[1] != "" || b[2] != "y" {
		t.Errorf("b = %q", b)
	}
	c, _ := f.Numeric("c")
	if !math.IsNaN(c[0]) || c[1] != 2.5 || !math.IsNaN(c[2]) {
		t.Errorf("c = %v", c)
	}
	if _, err := f.Numeric("b"); err == nil {
		t.Error("Numeric on a categorical column: want error")
	}
	if _, err := f.Categorical("a"); err == nil {
		t.Error("Categorical on a numeric column: want error")
	}
	if _, err := f.Numeric("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing column error = %v", err)
	}
}

func TestReadCSVForcedKinds(t *testing.T) {
	f, err := read(t, "zip,n\n01234,1\n98765,2\n", CSVOptions{Categorical: []string{"zip"}})
	if err != nil {
		t.Fatal(err)
	}
	zip, err := f.Categorical("zip")
	if err != nil || zip[0] != "01234" {
		t.Fatalf("zip = %q, %v", zip, err)
	}
	_, err = read(t, "id,total_rooms\n1,2\n2,3\n3,abc\n", CSVOptions{Numeric: []string{"total_rooms"}})
	want := `t.csv:4: column "total_rooms": "abc" is not a number`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	if _, err := read(t, "a\n1\n", CSVOptions{Numeric: []string{"b"}}); err == nil {
		t.Error("forcing an absent column: want error")
	}
	if _, err := read(t, "a\n1\n", CSVOptions{Numeric: []string{"a"}, Categorical: []string{"a"}}); err == nil {
		t.Error("forcing both kinds: want error")
	}
}

func TestReadCSVErrors(t *testing.T) {
	cases := map[string]struct{ text, want string }{
		"empty":     {"", "t.csv: empty file"},
		"ragged":    {"a,b\n1,2\n3\n", "t.csv:3: got 1 fields, want 2"},
		"duplicate": {"a,b,a\n1,2,3\n", `duplicate column name "a"`},
		"noname":    {"a,,c\n1,2,3\n", "column 2 has an empty name"},
	}
	for name, tc := range cases {
		_, err := read(t, tc.text, CSVOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", name, err, tc.want)
		}
	}
}

func TestHousingCSV(t *testing.T) {
	f, err := ReadCSVFile(housingCSV, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.NumRows() != 20640 || f.NumCols() != 10 {
		t.Fatalf("shape %dx%d, want 20640x10", f.NumRows(), f.NumCols())
	}
	if k, _ := f.Kind("ocean_proximity"); k != Categorical {
		t.Errorf("ocean_proximity is %v", k)
	}
	if k, _ := f.Kind("median_income"); k != Numeric {
		t.Errorf("median_income is %v", k)
	}
	// total_bedrooms has 207 empty fields in the public data set.
	if n, _ := f.CountMissing("total_bedrooms"); n != 207 {
		t.Errorf("total_bedrooms missing = %d, want 207", n)
	}
	lon, _ := f.Numeric("longitude")
	if lon[0] != -122.23 {
		t.Errorf("longitude[0] = %v", lon[0])
	}
}

func TestReadArchiveMatchesCSV(t *testing.T) {
	a, err := ReadCSVArchive("../../dataset/housing.tgz", CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadCSVFile(housingCSV, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wa, wb bytes.Buffer
	if err := a.WriteCSV(&wa); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteCSV(&wb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wa.Bytes(), wb.Bytes()) {
		t.Error("archive and CSV file read differently")
	}
	if _, err := ReadCSVArchive(housingCSV, CSVOptions{}); err == nil || !strings.Contains(err.Error(), "not a gzip") {
		t.Errorf("plain CSV as archive: err = %v", err)
	}
}

func TestWriteCSVRoundTrip(t *testing.T) {
	f, err := read(t, "x,s\n0.1,\"a,b\"\n,c\n1e300,\n", CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := read(t, buf.String(), CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x1, _ := f.Numeric("x")
	x2, _ := g.Numeric("x")
	for i := range x1 {
		if math.Float64bits(x1[i]) != math.Float64bits(x2[i]) {
			t.Errorf("x[%d]: %v != %v", i, x2[i], x1[i])
		}
	}
	s2, _ := g.Categorical("s")
	if s2[0] != "a,b" || s2[1] != "c" || s2[2] != "" {
		t.Errorf("s = %q", s2)
	}
}

func TestSelectMatrixAddDrop(t *testing.T) {
	f := New()
	if err := f.AddNumeric("x", []float64{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := f.AddNumeric("y", []float64{10, 20, 30}); err != nil {
		t.Fatal(err)
	}
	if err := f.AddCategorical("s", []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if err := f.AddNumeric("z", []float64{1}); err == nil {
		t.Error("short column: want error")
	}
	if err := f.AddNumeric("x", []float64{1, 2, 3}); err == nil {
		t.Error("duplicate column: want error")
	}
	g := f.Select([]int{2, 0})
	m, err := g.Matrix([]string{"y", "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{30, 3, 10, 1}
	for i, v := range want {
		if m.Data[i] != v {
			t.Fatalf("matrix = %v, want %v", m.Data, want)
		}
	}
	if _, err := g.Matrix([]string{"s"}); err == nil {
		t.Error("Matrix of a categorical column: want error")
	}
	s, _ := g.Categorical("s")
	if s[0] != "c" || s[1] != "a" {
		t.Errorf("selected s = %q", s)
	}
	d := f.Drop("y")
	if got := strings.Join(d.Names(), ","); got != "x,s" {
		t.Errorf("after Drop: %s", got)
	}
	c, err := f.Columns([]string{"s", "x"})
	if err != nil || strings.Join(c.Names(), ",") != "s,x" || c.NumRows() != 3 {
		t.Errorf("Columns: %v %v", c, err)
	}
}

func TestReadCSVFileNamesBase(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(p, []byte("a,b\n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadCSVFile(p, CSVOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "bad.csv:2:") {
		t.Errorf("err = %v", err)
	}
}

func BenchmarkReadHousingCSV(b *testing.B) {
	data, err := os.ReadFile(housingCSV)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ReadCSV(bytes.NewReader(data), "housing.csv", CSVOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseSimpleDecimalMatchesParseFloat(t *testing.T) {
	inputs := []string{"0", "-0", "1", "-122.23", "37.88", "880.0", "8.3252", "0.1", "+5.5",
		"123456789012345", "1234567890.12345", "0.000000000000000000001", "00012.50", "-.5", "5."}
	for _, s := range inputs {
		got, ok := parseSimpleDecimal(s)
		want, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil {
			t.Errorf("%q: fast path ok=%v, ParseFloat err=%v", s, ok, err)
			continue
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%q: fast path %v (%x), ParseFloat %v (%x)", s, got, math.Float64bits(got), want, math.Float64bits(want))
		}
	}
	for _, s := range []string{"", ".", "-", "1e5", "1.2.3", " 1", "1234567890123456", "abc", "0x10"} {
		if _, ok := parseSimpleDecimal(s); ok {
			t.Errorf("%q: fast path accepted it", s)
		}
	}
	// Every number in the housing file must parse to the same bits both ways.
	f, err := ReadCSVFile(housingCSV, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(housingCSV)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")[1:]
	lon, _ := f.Numeric("median_income")
	for i, line := range lines {
		want, _ := strconv.ParseFloat(strings.Split(line, ",")[7], 64)
		if math.Float64bits(want) != math.Float64bits(lon[i]) {
			t.Fatalf("row %d: %v != %v", i, lon[i], want)
		}
	}
}

func TestPlainAndQuotedSplittersAgree(t *testing.T) {
	data, err := os.ReadFile(housingCSV)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, "\r\n\n-1,2,3,4,5,6,7,8,9,x\r\n"...) // CRLF and a blank line
	a, err := splitPlain(data, "h")
	if err != nil {
		t.Fatal(err)
	}
	b, err := splitQuoted(data, "h")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.header, b.header) || !slices.Equal(a.cells, b.cells) || !slices.Equal(a.lines, b.lines) {
		t.Error("plain and encoding/csv splitting differ")
	}
	if n := len(a.lines); n != 20641 || a.lines[n-1] != 20644 || a.cell(n-1, 9) != "x" {
		t.Errorf("%d rows, last on line %d", n, a.lines[n-1])
	}
}

// FuzzSplitters checks that the fast splitter for quote-free files agrees
// with encoding/csv, and that ReadCSV never panics.
func FuzzSplitters(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "a\r\n\r\nx\r\n", "a,b\n1,2,3\n", "", "x\n\n\n", "a,b\n,\n", "a\n1\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ReadCSV(strings.NewReader(s), "f", CSVOptions{})
		if strings.Contains(s, `"`) {
			return
		}
		a, errA := splitPlain([]byte(s), "f")
		b, errB := splitQuoted([]byte(s), "f")
		if (errA == nil) != (errB == nil) {
			t.Fatalf("plain err %v, csv err %v", errA, errB)
		}
		if errA == nil && (!slices.Equal(a.header, b.header) || !slices.Equal(a.cells, b.cells) || !slices.Equal(a.lines, b.lines)) {
			t.Fatalf("plain %q %q %v, csv %q %q %v", a.header, a.cells, a.lines, b.header, b.cells, b.lines)
		}
	})
}
