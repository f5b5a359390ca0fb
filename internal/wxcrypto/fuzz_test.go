package wxcrypto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kfgate/kfgate/internal/kf"
)

// FuzzVerify checks the signature against an independent computation for
// any token, timestamp, nonce and claimed signature.
func FuzzVerify(f *testing.F) {
	f.Add("AAAAA", "1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696", "")
	f.Add("pamtest", "1409304348", "xxxxxx", a1MsgSig, a1Encrypt)
	f.Add("", "", "", "", "")
	f.Fuzz(func(t *testing.T, token, timestamp, nonce, sig, encrypt string) {
		parts := []string{token, timestamp, nonce}
		if encrypt != "" {
			parts = append(parts, encrypt)
		}
		want := referenceSignature(parts...)
		if got := Signature(parts...); got != want {
			t.Fatalf("Signature = %s, reference says %s", got, want)
		}
		if !Verify(want, parts...) {
			t.Fatal("Verify rejected the right signature")
		}
		if Verify(sig, parts...) != (sig == want) {
			t.Fatalf("Verify(%q) disagrees with equality to %s", sig, want)
		}
	})
}

// FuzzDecrypt feeds arbitrary <Encrypt> text to Decrypt: it must never
// panic, must fail only with an invalid or forbidden *kf.Error, and what it
// accepts must be exactly what the reference implementation reads.
func FuzzDecrypt(f *testing.F) {
	f.Add(a1Encrypt)
	f.Add(a2Encrypt)
	f.Add(cEncrypt)
	f.Add("")
	f.Add("AAAA")
	c, err := NewCipher(appA, keyAC)
	if err != nil {
		f.Fatal(err)
	}
	ref := reference{key: c.key, appID: appA}
	f.Fuzz(func(t *testing.T, encrypt string) {
		msg, err := c.Decrypt(encrypt)
		if err != nil {
			var e *kf.Error
			if !errors.As(err, &e) || (e.Kind != kf.KindInvalid && e.Kind != kf.KindForbidden) {
				t.Fatalf("Decrypt error %v is not an invalid or forbidden *kf.Error", err)
			}
			return
		}
		refMsg, appID, err := ref.decrypt(encrypt)
		if err != nil || appID != appA || !bytes.Equal(refMsg, msg) {
			t.Fatalf("Decrypt accepted %q as %q; the reference says %q, %q, %v", encrypt, msg, refMsg, appID, err)
		}
	})
}

// FuzzRoundTrip encrypts any message and decrypts it back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(a2Plain))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{32}, 32))
	c, err := NewCipher(appC, keyAC)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, err := c.Decrypt(c.Encrypt(msg))
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round trip of %q = %q, %v", msg, got, err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !Verify(a2MsgSig, "pamtest", "1409304348", "xxxxxx", a2Encrypt) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	c, err := NewCipher(appA, keyAC)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decrypt(a2Encrypt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncrypt(b *testing.B) {
	c, err := NewCipher(appA, keyAC)
	if err != nil {
		b.Fatal(err)
	}
	msg := []byte(a2Plain)
	b.ReportAllocs()
	for b.Loop() {
		c.Encrypt(msg)
	}
}
