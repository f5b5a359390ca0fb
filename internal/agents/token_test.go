package agents_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/kfgate/kfgate/internal/agents"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := agents.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(tok, "kfa_")
		if !ok {
			t.Fatalf("token %q lacks the kfa_ prefix", tok)
		}
		b, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil || len(b) != 32 {
			t.Fatalf("token %q: %d bytes of unpadded base64url (%v), want 32", tok, len(b), err)
		}
		if seen[tok] {
			t.Fatalf("token %q issued twice", tok)
		}
		seen[tok] = true
	}
}

func TestHashToken(t *testing.T) {
	// sha256("abc"), FIPS 180-2 appendix B.1.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := hex.EncodeToString(agents.HashToken("abc")); got != want {
		t.Errorf("HashToken(abc) = %s, want %s", got, want)
	}
	if n := len(agents.HashToken("")); n != sha256.Size {
		t.Errorf("len(HashToken) = %d", n)
	}
}
