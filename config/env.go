package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// interpolate expands ${VAR} and ${VAR:-default} in every string scalar. It
// runs on parsed values, never on raw text, so a variable's content cannot
// change the YAML structure. An expanded plain scalar gets its type resolved
// again ("${TRIALS:-20}" becomes an integer).
func interpolate(n *yaml.Node, path string, lookup func(string) (string, bool)) error {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := interpolate(n.Content[i+1], join(path, n.Content[i].Value), lookup); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := interpolate(c, fmt.Sprintf("%s[%d]", path, i), lookup); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		v, err := Expand(n.Value, lookup)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		n.Value = v
		if n.Style == 0 || n.Style == yaml.TaggedStyle {
			n.Tag = "" // re-resolve from the expanded text
		}
	}
	return nil
}

// Expand replaces ${VAR} and ${VAR:-default} in s. An unset VAR without a
// default is an error naming it.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		b.WriteString(s[:i])
		expr := s[i+2 : i+j]
		name, def, hasDef := strings.Cut(expr, ":-")
		if name == "" {
			return "", fmt.Errorf("empty variable name in %q", s)
		}
		v, ok := lookup(name)
		switch {
		case ok && v != "":
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		case ok:
			// set but empty, no default: keep it empty, as a shell would
		default:
			return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give one)", name, name)
		}
		s = s[i+j+1:]
	}
}
