package config_test

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kfgate/kfgate/internal/config"
)

const exampleFile = "../../configs/kfgate.example.yaml"

// The example runs as it is, with no Redis and no PostgreSQL.
func TestExampleFileLoads(t *testing.T) {
	getenv, environ := noEnv()
	c, err := config.Load(exampleFile, getenv, environ)
	if err != nil {
		t.Fatalf("Load(%s): %v", exampleFile, err)
	}
	if c.Redis.URL != "" || c.Postgres.URL != "" {
		t.Errorf("example needs services: redis.url %q, postgres.url %q", c.Redis.URL, c.Postgres.URL)
	}
	if len(c.Accounts) != 2 || !c.Accounts[0].SafeMode() || c.Accounts[1].SafeMode() {
		t.Errorf("example accounts = %v, want one in safe mode, then one in plaintext", c.Accounts)
	}
	if len(c.Admin.Tokens) == 0 {
		t.Errorf("example has no admin token")
	}
	// Every key the example sets is its default (the demo accounts, agent
	// and admin token aside), so that the file documents the defaults truly.
	var d config.Config
	d.SetDefaults()
	d.Accounts, d.Agents, d.Admin = c.Accounts, c.Agents, c.Admin
	if !reflect.DeepEqual(&d, c) {
		t.Errorf("example sets a value other than the default:\n got %v\nwant %v", c, d)
	}
}

// The example documents every key: each appears, with a comment that names
// its environment variable. Keys of accounts are documented on the first
// account; the second's line comments are enough.
func TestExampleFileDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	comments := map[string]string{} // path with [] for indexes → its comments
	var walk func(n *yaml.Node, path, inherited string)
	walk = func(n *yaml.Node, path, inherited string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, "")
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i), c.HeadComment)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				text := k.HeadComment + k.LineComment + v.LineComment
				if i == 0 {
					text += inherited // a comment before a list element's first key
				}
				comments[p] += text
				walk(v, p, "")
			}
		}
	}
	walk(&doc, "", "")

	index := regexp.MustCompile(`\[(\d+)\]`)
	for _, leaf := range leafPaths(reflect.TypeFor[config.Config](), "") {
		found := false
		for path, text := range comments {
			if index.ReplaceAllString(path, "[]") != leaf {
				continue
			}
			found = true
			envVar := "KFGATE_" + strings.ToUpper(strings.NewReplacer(".", "_", "[", "_", "]", "").Replace(path))
			if !strings.Contains(text, envVar) {
				t.Errorf("%s: %s: no comment naming %s", exampleFile, path, envVar)
			}
		}
		if !found {
			t.Errorf("%s: key %s is missing", exampleFile, leaf)
		}
	}
}
