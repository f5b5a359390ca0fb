package kf_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kfgate/kfgate/internal/kf"
)

func TestErrorKinds(t *testing.T) {
	cause := errors.New("dial tcp: refused")
	err := fmt.Errorf("record: %w", kf.Wrap(kf.KindUnavailable, "unavailable", cause, "cannot record"))
	if !errors.Is(err, kf.ErrUnavailable) || errors.Is(err, kf.ErrInvalid) {
		t.Error("errors.Is does not follow the kind")
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is lost")
	}
	if kf.KindOf(err) != kf.KindUnavailable || kf.KindOf(cause) != kf.KindInternal || kf.KindOf(kf.ErrNotFound) != kf.KindNotFound {
		t.Error("KindOf is wrong")
	}
	if got := kf.Errorf(kf.KindInvalid, "x", "bad %s", "thing").Error(); got != "bad thing" {
		t.Errorf("Error() = %q", got)
	}
	if got := err.Error(); got != "record: cannot record: dial tcp: refused" {
		t.Errorf("Error() = %q", got)
	}
	if kf.KindTooLarge.String() != "too large" || kf.Kind(200).String() != "kind(200)" {
		t.Error("Kind.String is wrong")
	}
}
