package media_test

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/kfgate/kfgate/internal/media"
)

func TestID(t *testing.T) {
	sum := sha256.Sum256([]byte("wxa\x00MEDIA_1"))
	want := base64.RawURLEncoding.EncodeToString(sum[:16])
	tests := []struct {
		name, account, mediaID, want string
	}{
		{"the documented derivation", "wxa", "MEDIA_1", want},
		{"the account matters", "wxb", "MEDIA_1", ""},
		{"no ambiguity at the separator", "wxaM", "EDIA_1", ""},
	}
	for _, tt := range tests {
		got := media.ID(tt.account, tt.mediaID)
		if len(got) != 22 || strings.ContainsAny(got, "+/=") {
			t.Errorf("%s: ID = %q, want 22 base64url characters", tt.name, got)
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("%s: ID = %q, want %q", tt.name, got, tt.want)
		}
		if tt.want == "" && got == want {
			t.Errorf("%s: ID = %q collides with wxa/MEDIA_1", tt.name, got)
		}
		if u := media.URL(tt.account, tt.mediaID); u != "/api/v1/media/"+got {
			t.Errorf("%s: URL = %q", tt.name, u)
		}
	}
}
