package desk

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// What WeChat answers to an agent's typing or image upload becomes a kf
// error with a status the API documents, never a 500.
func TestWeChatError(t *testing.T) {
	wrapped := func(err error) error { return fmt.Errorf("wxapi typing: %w", err) }
	tests := []struct {
		name string
		err  error
		want kf.Kind
	}{
		{"no exchange in 30 s", wrapped(&wxapi.Error{Code: 45080}), kf.KindConflict},
		{"already typing", wrapped(&wxapi.Error{Code: 45081}), kf.KindConflict},
		{"reply quota", wrapped(&wxapi.Error{Code: 45047}), kf.KindRateLimited},
		{"kfgate's token refused", wrapped(&wxapi.Error{Code: 40001}), kf.KindUnavailable},
		{"bad command", wrapped(&wxapi.Error{Code: 45072}), kf.KindInvalid},
		{"system busy", wrapped(&wxapi.Error{Code: -1}), kf.KindUnavailable},
		{"no answer", wrapped(&wxapi.TransportError{Path: "/cgi-bin/message/custom/typing"}), kf.KindUnavailable},
		{"already a kf error", kf.Errorf(kf.KindNotFound, "x", "x"), kf.KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wechatError(tt.err)
			e, ok := errors.AsType[*kf.Error](err)
			if !ok || e.Kind != tt.want {
				t.Fatalf("wechatError(%v) = %v, want kind %v", tt.err, err, tt.want)
			}
			if e.Msg == "" {
				t.Error("no message for the agent")
			}
		})
	}
	if wechatError(nil) != nil {
		t.Error("wechatError(nil) is not nil")
	}
}
