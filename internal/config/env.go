package config

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every variable that overrides a key: the key's path
// upper-cased and joined by "_", list elements by their index from 0:
// KFGATE_LISTEN, KFGATE_INTAKE_DEDUP_TTL, KFGATE_ACCOUNTS_0_SECRET.
const EnvPrefix = "KFGATE_"

// EnvConfig names the config file. It is the one KFGATE_ variable that is
// not a key; the caller reads it.
const EnvConfig = "KFGATE_CONFIG"

var (
	durationType = reflect.TypeFor[time.Duration]()
	periodType   = reflect.TypeFor[Period]()
)

// envStep is one step from Config to a key: a struct field or, for a list of
// structs, an element.
type envStep struct {
	field int    // index of the struct field; -1 for a list element
	index int    // the element, when field is -1
	key   string // the field's key, for messages
}

type envVar struct {
	name, value string
	steps       []envStep
}

// applyEnv applies the KFGATE_… variables of environ to c and returns one
// line per problem, sorted. A variable set to "" counts as unset, so that
// KFGATE_REDIS_URL=${REDIS_URL} does no harm where REDIS_URL is unset.
//
// An index one past the end of a list appends an element, so an account may
// come from the environment alone; variables are applied in order of their
// indexes, so KFGATE_ACCOUNTS_1_… and KFGATE_ACCOUNTS_2_… may both be new.
func applyEnv(c *Config, getenv func(string) string, environ []string) []string {
	var (
		vars     []envVar
		problems []string
		seen     = map[string]bool{}
	)
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || name == EnvConfig || seen[name] {
			continue
		}
		seen[name] = true
		steps, ok := resolveEnv(reflect.TypeFor[Config](), strings.TrimPrefix(name, EnvPrefix))
		if !ok {
			problems = append(problems, name+": no such key")
			continue
		}
		if value := getenv(name); value != "" {
			vars = append(vars, envVar{name: name, value: value, steps: steps})
		}
	}
	slices.SortStableFunc(vars, func(a, b envVar) int {
		return slices.CompareFunc(a.steps, b.steps, func(x, y envStep) int {
			return cmp.Or(cmp.Compare(x.field, y.field), cmp.Compare(x.index, y.index))
		})
	})
	root := reflect.ValueOf(c).Elem()
	for _, v := range vars {
		if err := v.apply(root); err != nil {
			problems = append(problems, v.name+": "+err.Error())
		}
	}
	slices.Sort(problems)
	return problems
}

// resolveEnv finds the key that name (without the prefix) names in the
// struct type t.
func resolveEnv(t reflect.Type, name string) ([]envStep, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := yamlKey(f)
		if key == "" {
			continue
		}
		up := strings.ToUpper(key)
		if name == up && isLeaf(f.Type) {
			return []envStep{{field: i, key: key}}, true
		}
		rest, ok := strings.CutPrefix(name, up+"_")
		if !ok {
			continue
		}
		step := envStep{field: i, key: key}
		switch {
		case f.Type.Kind() == reflect.Struct:
			if steps, ok := resolveEnv(f.Type, rest); ok {
				return append([]envStep{step}, steps...), true
			}
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			num, rest, ok := strings.Cut(rest, "_")
			n, err := strconv.Atoi(num)
			if !ok || err != nil || n < 0 || strconv.Itoa(n) != num {
				continue // "01" would name the same element as "1"
			}
			if steps, ok := resolveEnv(f.Type.Elem(), rest); ok {
				return append([]envStep{step, {field: -1, index: n}}, steps...), true
			}
		}
	}
	return nil, false
}

// isLeaf reports whether a value of type t is set by one variable.
func isLeaf(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

func (v envVar) apply(root reflect.Value) error {
	cur, path := root, ""
	for _, s := range v.steps {
		if s.field >= 0 {
			cur, path = cur.Field(s.field), joinPath(path, s.key)
			continue
		}
		switch n := cur.Len(); {
		case s.index == n:
			cur.Set(reflect.Append(cur, reflect.Zero(cur.Type().Elem())))
		case s.index > n:
			return fmt.Errorf("index %d skips ahead: %s has %d so far, so a new one takes index %d", s.index, path, n, n)
		}
		cur, path = cur.Index(s.index), fmt.Sprintf("%s[%d]", path, s.index)
	}
	return setLeaf(cur, v.value)
}

// setLeaf parses s into v. Its errors show s only for types that never hold
// a secret: durations, booleans and numbers.
func setLeaf(v reflect.Value, s string) error {
	t := v.Type()
	switch {
	case t == periodType:
		p, err := ParsePeriod(s)
		if err != nil {
			return fmt.Errorf("must be days such as \"395d\" or a duration such as \"72h\" (got %q)", truncate(s, 40))
		}
		v.SetInt(int64(p))
	case t == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("must be a duration such as \"20s\" or \"5m\" (got %q)", truncate(s, 40))
		}
		v.SetInt(int64(d))
	case t.Kind() == reflect.String:
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("must be true or false (got %q)", truncate(s, 40))
		}
		v.SetBool(b)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return fmt.Errorf("must be a whole number (got %q)", truncate(s, 40))
		}
		v.SetInt(n)
	case t.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("must be a number such as 3.5 (got %q)", truncate(s, 40))
		}
		v.SetFloat(f)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		// A comma-separated list; its elements cannot hold a comma.
		var list []string
		for e := range strings.SplitSeq(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				list = append(list, e)
			}
		}
		v.Set(reflect.ValueOf(list).Convert(t))
	default:
		return errors.New("cannot be set from the environment") // not reached: resolveEnv finds leaves only
	}
	return nil
}
