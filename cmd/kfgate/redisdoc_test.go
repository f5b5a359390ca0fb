package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs/redis.md is the contract between the packages that share Redis: it
// must name every key, stream and channel the code uses, and nothing the
// code no longer uses. The code's names are found where keys are made:
// the Lua scripts' P .. 'name' (or prefix .. 'name'), the Go code's
// prefix + "name", and the exported names of streams (StreamKey,
// EventsStream, DeadLetterKey, AllChannel).
func TestRedisDocListsEveryKey(t *testing.T) {
	root := filepath.Join("..", "..")
	lua := regexp.MustCompile(`\b(?:P|prefix)\s*\.\.\s*'([a-z][a-z0-9_-]*)`)
	goKey := regexp.MustCompile(`[pP]refix\s*\+\s*"([a-z][a-z0-9_-]*)`)
	goConst := regexp.MustCompile(`\b(?:StreamKey|EventsStream|DeadLetterKey|AllChannel)\s*=\s*"([a-z][a-z0-9_-]*)`)
	used := map[string][]string{}
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var res []*regexp.Regexp
		switch {
		case strings.HasSuffix(path, ".lua"):
			res = []*regexp.Regexp{lua}
		case strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") &&
			!strings.Contains(path, string(filepath.Separator)+"sim"+string(filepath.Separator)):
			res = []*regexp.Regexp{goKey, goConst}
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, re := range res {
			for _, m := range re.FindAllSubmatch(b, -1) {
				used[string(m[1])] = append(used[string(m[1])], strings.TrimPrefix(path, root+string(filepath.Separator)))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "redis.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`<p>([a-z][a-z0-9_-]*)").FindAllSubmatch(doc, -1) {
		documented[string(m[1])] = true
	}
	if len(used) < 10 || len(documented) < 10 {
		t.Fatalf("found %d names in the code and %d in docs/redis.md: the patterns are broken", len(used), len(documented))
	}
	for name, where := range used {
		if !documented[name] {
			slices.Sort(where)
			t.Errorf("docs/redis.md does not describe <p>%s… (used in %s)", name, strings.Join(slices.Compact(where), ", "))
		}
	}
	for name := range documented {
		if _, ok := used[name]; !ok {
			t.Errorf("docs/redis.md describes <p>%s…, which no code uses", name)
		}
	}
}
