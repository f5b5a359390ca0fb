package config

import (
	"reflect"
	"testing"
)

// Config has no integer key yet; the environment handles them all the same.
func TestSetLeafInt(t *testing.T) {
	var s struct {
		N   int
		N16 int16
	}
	v := reflect.ValueOf(&s).Elem()
	if err := setLeaf(v.Field(0), "-42"); err != nil || s.N != -42 {
		t.Errorf("setLeaf(int, -42) = %v, N = %d", err, s.N)
	}
	if err := setLeaf(v.Field(1), "40000"); err == nil || err.Error() != `must be a whole number (got "40000")` {
		t.Errorf("setLeaf(int16, 40000) = %v, want an out-of-range error", err)
	}
	if err := setLeaf(v.Field(0), "1.5"); err == nil {
		t.Errorf("setLeaf(int, 1.5) = nil, want an error")
	}
}
