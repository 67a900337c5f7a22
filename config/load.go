package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load returns the defaults, overlaid with the YAML file at path (skipped
// when path is ""), then with overrides ("section.key=value", the value
// parsed as YAML), with ${VAR} and ${VAR:-default} expanded from the
// environment. Every key and type is checked before the result is returned.
func Load(path string, overrides []string) (*Config, error) {
	return LoadEnv(path, overrides, os.LookupEnv)
}

// LoadEnv is Load with an explicit environment lookup (the CLI supplies a
// default MLOPS_HOME; tests supply a map).
func LoadEnv(path string, overrides []string, lookup func(string) (string, bool)) (*Config, error) {
	root, err := defaultNode()
	if err != nil {
		return nil, err
	}
	if path != "" {
		file, err := readFileNode(path)
		if err != nil {
			return nil, err
		}
		if file != nil {
			if err := merge(root, file, ""); err != nil {
				return nil, fmt.Errorf("config %s: %w", path, err)
			}
		}
	}
	for _, o := range overrides {
		if err := applyOverride(root, o); err != nil {
			return nil, err
		}
	}
	if err := interpolate(root, "", lookup); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := check(root, typeOfConfig, ""); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg := &Config{}
	if err := root.Decode(cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// defaultNode encodes the built-in defaults as a YAML mapping node, the base
// every file and override is merged onto.
func defaultNode() (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(Default()); err != nil {
		return nil, fmt.Errorf("config: encoding defaults: %w", err)
	}
	return content(&n), nil
}

func readFileNode(path string) (*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty file: defaults only
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	n := content(&doc)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s: want a mapping of sections, got a %s", path, kindName(n))
	}
	return n, nil
}

// content unwraps a document node.
func content(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return n.Content[0]
	}
	return n
}

// merge overlays src onto dst: mappings merge key by key, anything else
// replaces the destination value. A model family's grid is replaced whole:
// a grid given for a family is the grid, not a patch of the default one.
func merge(dst, src *yaml.Node, path string) error {
	if dst.Kind != yaml.MappingNode || src.Kind != yaml.MappingNode || replacedWhole(path) {
		*dst = *src
		return nil
	}
	for i := 0; i+1 < len(src.Content); i += 2 {
		k, v := src.Content[i], src.Content[i+1]
		if existing := lookupKey(dst, k.Value); existing != nil {
			if err := merge(existing, v, join(path, k.Value)); err != nil {
				return err
			}
			continue
		}
		dst.Content = append(dst.Content, k, v)
	}
	return nil
}

func replacedWhole(path string) bool {
	parts := strings.Split(path, ".")
	return len(parts) == 3 && parts[0] == "model_selection" && parts[1] == "grids"
}

func lookupKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// applyOverride sets one "a.b.c=value" override.
func applyOverride(root *yaml.Node, o string) error {
	key, val, ok := strings.Cut(o, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("config override %q: want section.key=value", o)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(val), &doc); err != nil {
		return fmt.Errorf("config override %s: value %q is not valid YAML: %w", key, val, err)
	}
	v := content(&doc)
	if doc.Kind == 0 { // empty value means null
		v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	parts := strings.Split(key, ".")
	cur := root
	for i, p := range parts {
		if cur.Kind != yaml.MappingNode {
			return fmt.Errorf("config override %s: %s is not a section", key, strings.Join(parts[:i], "."))
		}
		next := lookupKey(cur, p)
		if i == len(parts)-1 {
			if next != nil && next.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode {
				return merge(next, v, key)
			}
			if next != nil {
				*next = *v
			} else {
				cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p}, v)
			}
			return nil
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p}, next)
		}
		cur = next
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}
