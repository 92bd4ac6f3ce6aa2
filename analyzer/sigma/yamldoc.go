package sigma

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// document is one YAML document of a Sigma file, with where it starts.
type document struct {
	file string
	line int // first line of the document in the file (1-based)
	root *yaml.Node
}

// docSep is a document marker at the start of a line. A block scalar's lines are indented
// below its key, so a "---" at column 0 is always a marker.
var docSep = regexp.MustCompile(`^(---|\.\.\.)(\s.*)?$`)

// splitDocuments cuts a file into its YAML documents and parses each on its own, so that
// one broken document costs its own lines, never the documents around it. Errors name the
// file and the line.
func splitDocuments(b []byte, file string) ([]document, []error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	lines := bytes.SplitAfter(b, []byte("\n"))
	var docs []document
	var errs []error
	start := 0
	flush := func(end int) {
		if end <= start {
			return
		}
		chunk := bytes.Join(lines[start:end], nil)
		first := start + 1
		var n yaml.Node
		if err := yaml.Unmarshal(chunk, &n); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s", file, first+errLine(err)-1, yamlMessage(err)))
			return
		}
		if n.Kind == 0 || len(n.Content) == 0 {
			return // only comments
		}
		root := n.Content[0]
		shift(root, first-1)
		docs = append(docs, document{file: file, line: root.Line, root: root})
	}
	for i, l := range lines {
		if docSep.Match(bytes.TrimRight(l, "\r\n")) {
			flush(i)
			start = i + 1
		}
	}
	flush(len(lines))
	return docs, errs
}

// shift moves every node's line from chunk-relative to file-relative.
func shift(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shift(c, by)
	}
}

var lineRe = regexp.MustCompile(`line (\d+)`)

func errLine(err error) int {
	m := lineRe.FindStringSubmatch(err.Error())
	if m == nil {
		return 1
	}
	n := 0
	fmt.Sscan(m[1], &n)
	if n < 1 {
		n = 1
	}
	return n
}

// yamlMessage is the parser's message without its own "yaml: line N:" prefix (the
// caller names the line in the file) and without quoting the input back.
func yamlMessage(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: ")
	s = lineRe.ReplaceAllString(s, "")
	s = strings.TrimLeft(s, ": ")
	if i := strings.IndexAny(s, "`'\""); i >= 0 {
		s = strings.TrimSpace(s[:i]) // the parser quotes input: a secret may sit there
	}
	if s == "" {
		s = "not valid YAML"
	}
	return "invalid YAML: " + s
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// mapping returns the key/value pairs of a mapping node, aliases resolved.
type kv struct {
	key string
	k   *yaml.Node
	v   *yaml.Node
}

func pairs(n *yaml.Node) []kv {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]kv, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		out = append(out, kv{key: k.Value, k: k, v: v})
	}
	return out
}

func get(n *yaml.Node, key string) *yaml.Node {
	for _, p := range pairs(n) {
		if p.key == key {
			return p.v
		}
	}
	return nil
}

// lineOf is the line of n's key, else of n itself, else 0: a hostile document may lack
// any key a message wants to point at.
func lineOf(n *yaml.Node, key string) int {
	if v := get(n, key); v != nil {
		return v.Line
	}
	if n != nil {
		return n.Line
	}
	return 0
}

// str reads a scalar as a string; a missing node is "".
func str(n *yaml.Node) (string, error) {
	n = deref(n)
	if n == nil {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("line %d: want a string, not %s", n.Line, kindName(n))
	}
	return n.Value, nil
}

// strList reads a list of strings, or a single string as a list of one.
func strList(n *yaml.Node) ([]string, error) {
	n = deref(n)
	if n == nil {
		return nil, nil
	}
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return nil, nil
		}
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: want a list of strings, not %s", n.Line, kindName(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		s, err := str(c)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a " + strings.TrimPrefix(n.Tag, "!!")
	}
	return "something else"
}
