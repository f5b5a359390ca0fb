package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yaml.v3 reports a file that parses but does not fit Config as lines such
// as "line 7: field lisen not found in type config.Config". These turn them
// into lines a person can act on, with the key's path added from the
// document's tree: "line 7: unknown key \"lisen\" (did you mean \"listen\"?)".
var (
	reUnknownKey = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)
	reDuplicate  = regexp.MustCompile(`^line (\d+): field (.+) already set in type \S+$`)
	reDupMapKey  = regexp.MustCompile(`^line (\d+): mapping key (".*") already defined at line (\d+)$`)
	reWrongType  = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+)(?: `.*`)? into (.+)$")
)

// ambiguous marks a line that holds more than one key or value of a kind
// (a flow mapping such as {a: 1, b: 2}): the line alone cannot say which.
const ambiguous = "\x00"

// nodeIndex maps the lines of a YAML document to the keys on them.
type nodeIndex struct {
	keys   map[int]string        // line → path of the mapping holding a key on it
	values map[nodeAt]valueEntry // (line, kind) → the value node there
}

type nodeAt struct {
	line int
	kind yaml.Kind
}

type valueEntry struct {
	path  string // "intake.dedup_ttl", "accounts[1].appid"; "" for the document's top
	value string // a scalar's text
}

func newNodeIndex(doc *yaml.Node) *nodeIndex {
	ix := &nodeIndex{keys: map[int]string{}, values: map[nodeAt]valueEntry{}}
	ix.walk(doc, "")
	return ix
}

func (ix *nodeIndex) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			ix.walk(c, path)
		}
	case yaml.MappingNode:
		ix.addValue(n, path)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ix.addKey(k.Line, path)
			ix.walk(v, joinPath(path, k.Value))
		}
	case yaml.SequenceNode:
		ix.addValue(n, path)
		for i, c := range n.Content {
			ix.walk(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.ScalarNode:
		ix.addValue(n, path)
	}
}

func (ix *nodeIndex) addKey(line int, parent string) {
	if p, ok := ix.keys[line]; ok && p != parent {
		parent = ambiguous
	}
	ix.keys[line] = parent
}

func (ix *nodeIndex) addValue(n *yaml.Node, path string) {
	at := nodeAt{n.Line, n.Kind}
	if e, ok := ix.values[at]; ok && e.path != path {
		path = ambiguous
	}
	ix.values[at] = valueEntry{path: path, value: n.Value}
}

// rewrite turns one of yaml.v3's type-error lines into kfgate's wording.
func (ix *nodeIndex) rewrite(msg string) string {
	if m := reUnknownKey.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		s := fmt.Sprintf("line %s: unknown key %q", m[1], m[2])
		if p := ix.keys[line]; p != "" && p != ambiguous {
			s += " in " + p
		}
		if t, ok := structTypes()[m[3]]; ok {
			if near := nearest(m[2], yamlKeys(t)); near != "" {
				s += fmt.Sprintf(" (did you mean %q?)", near)
			}
		}
		return s
	}
	if m := reDuplicate.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("line %s: key %q given twice", m[1], m[2])
	}
	if m := reDupMapKey.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("line %s: key %s given twice (first at line %s)", m[1], m[2], m[3])
	}
	if m := reWrongType.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		kind := yaml.ScalarNode
		switch m[2] {
		case "!!map":
			kind = yaml.MappingNode
		case "!!seq":
			kind = yaml.SequenceNode
		}
		e, found := ix.values[nodeAt{line, kind}]
		s := "line " + m[1] + ": "
		if found && e.path != ambiguous {
			if e.path == "" {
				return s + "the file must be a mapping of keys to values, such as listen: \":8080\""
			}
			s += e.path + ": "
		}
		want, echo := expected(m[3])
		s += "must be " + want
		// Only values of types that never hold a secret are echoed.
		if echo && found && kind == yaml.ScalarNode && e.path != ambiguous {
			s += fmt.Sprintf(" (got %q)", truncate(e.value, 40))
		}
		return s
	}
	return msg
}

// expected names what a value of the Go type called typ must look like, and
// says whether a wrong value for it may be shown (it never is for strings
// and lists, which hold secrets, tokens and keys).
func expected(typ string) (want string, echo bool) {
	switch {
	case typ == "time.Duration":
		return `a duration such as "20s" or "5m"`, true
	case typ == "config.Period":
		return `days such as "395d", or a duration such as "72h"`, true
	case typ == "bool":
		return "true or false", true
	case strings.HasPrefix(typ, "int") || strings.HasPrefix(typ, "uint"):
		return "a whole number", true
	case typ == "string":
		return "a single value (text)", false
	case strings.HasPrefix(typ, "[]"):
		return "a list", false
	default:
		return "a mapping of keys to values", false
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// structTypes maps the names yaml.v3 gives Config's struct types
// ("config.Intake") to the types.
func structTypes() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		m[t.String()] = t
		for i := range t.NumField() {
			ft := t.Field(i).Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				add(ft)
			}
		}
	}
	add(reflect.TypeFor[Config]())
	return m
}

// yamlKeys lists the keys of a struct type, in field order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// yamlKey is the key of a struct field in the file, "" if it has none.
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// nearest returns the candidate closest to s if it is close enough to be a
// likely misspelling of it, else "".
func nearest(s string, candidates []string) string {
	best, bestDist := "", 3 // at most two edits
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist && d < len(c) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
