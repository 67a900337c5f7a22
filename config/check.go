package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	typeOfConfig      = reflect.TypeOf(Config{})
	typeOfUnmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// check walks the merged YAML tree against the Go schema so that a typo or a
// wrong type is reported with its dotted path ("sweep.trials: want an
// integer, got "x"") instead of yaml's line-oriented message, and before
// any step runs.
func check(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if reflect.PointerTo(t).Implements(typeOfUnmarshaler) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		return checkStruct(n, t, path)
	case reflect.Map:
		return checkMap(n, t, path)
	case reflect.Slice:
		return checkSlice(n, t, path)
	case reflect.Interface:
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: want a number, string or null, got %s", path, describe(n))
		}
		return nil
	}
	return checkScalar(n, t, path)
}

func checkMap(n *yaml.Node, t reflect.Type, path string) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: want a mapping, got %s", path, describe(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if err := check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
			return err
		}
	}
	return nil
}

func checkSlice(n *yaml.Node, t reflect.Type, path string) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s: want a list, got %s", path, describe(n))
	}
	for i, c := range n.Content {
		if err := check(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	return nil
}

func checkStruct(n *yaml.Node, t reflect.Type, path string) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: want a mapping, got %s", orRoot(path), describe(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		f, ok := fieldByTag(t, key)
		if !ok {
			return fmt.Errorf("unknown key %s", join(path, key))
		}
		if err := check(n.Content[i+1], f.Type, join(path, key)); err != nil {
			return err
		}
	}
	return nil
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func checkScalar(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s: want %s, got %s", path, want(t), describe(n))
	}
	tag := n.ShortTag()
	ok := false
	switch t.Kind() {
	case reflect.String:
		ok = tag == "!!str" || tag == "!!int" || tag == "!!float"
	case reflect.Int, reflect.Int64, reflect.Int32:
		ok = tag == "!!int"
	case reflect.Float64:
		ok = tag == "!!int" || tag == "!!float"
	case reflect.Bool:
		ok = tag == "!!bool"
	}
	if !ok {
		return fmt.Errorf("%s: want %s, got %s", path, want(t), describe(n))
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		return fmt.Errorf("%s: want %s, got %s", path, want(t), describe(n))
	}
	return nil
}

func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		if isNull(n) {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "a " + kindName(n)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func orRoot(path string) string {
	if path == "" {
		return "config"
	}
	return path
}
