// Package wxcrypto checks WeChat's callback signatures and performs the
// AES-256-CBC "safe mode" message encryption of official accounts
// (docs/wechat.md, "Signatures" and "Safe-mode encryption"). The layout and padding come from silenceper/wechat's
// util helpers; this package adds what a gateway needs around them: keys
// decoded once per account, constant-time signature checks without
// allocation, the appid check, and errors that say what went wrong.
package wxcrypto

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/silenceper/wechat/v2/util"

	"github.com/kfgate/kfgate/internal/kf"
)

// Signature returns WeChat's signature of parts: the lower-case hex SHA-1
// of the parts sorted as strings and concatenated. The 3-part form
// (Token, timestamp, nonce) is the URL `signature`; the 4-part form with
// the Encrypt text is `msg_signature` (docs/wechat.md, "Signatures").
func Signature(parts ...string) string {
	var sum [sha1.Size * 2]byte
	sign(&sum, parts)
	return string(sum[:])
}

// Verify reports whether sig is the signature of parts, comparing in
// constant time so that a forger learns nothing from the response time.
func Verify(sig string, parts ...string) bool {
	if len(sig) != sha1.Size*2 {
		return false
	}
	var sum [sha1.Size * 2]byte
	sign(&sum, parts)
	return subtle.ConstantTimeCompare(sum[:], []byte(sig)) == 1
}

// sign writes the hex signature of parts into sum. It sorts a copy of at
// most four parts with an insertion sort so the hot path does not allocate.
func sign(sum *[sha1.Size * 2]byte, parts []string) {
	var buf [4]string
	sorted := buf[:0]
	if len(parts) > len(buf) {
		sorted = make([]string, 0, len(parts))
	}
	for _, p := range parts {
		i := len(sorted)
		sorted = append(sorted, p)
		for ; i > 0 && sorted[i-1] > p; i-- {
			sorted[i] = sorted[i-1]
		}
		sorted[i] = p
	}
	h := sha1.New()
	for _, p := range sorted {
		h.Write([]byte(p))
	}
	var digest [sha1.Size]byte
	hex.Encode(sum[:], h.Sum(digest[:0]))
}

// KeyLen is the length of an EncodingAESKey.
const KeyLen = 43

// DecodeKey turns a 43-character EncodingAESKey into the 32-byte AES key:
// base64 of the key with one "=" appended (docs/wechat.md, "Safe-mode encryption").
func DecodeKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != KeyLen {
		return nil, fmt.Errorf("EncodingAESKey must be %d characters, not %d", KeyLen, len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("EncodingAESKey is not valid base64 of 32 bytes")
	}
	return key, nil
}

// Cipher encrypts and decrypts the messages of one official account.
type Cipher struct {
	appID string
	key   []byte
}

// NewCipher returns the Cipher of the account appID with the given
// EncodingAESKey.
func NewCipher(appID, encodingAESKey string) (*Cipher, error) {
	key, err := DecodeKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	return &Cipher{appID: appID, key: key}, nil
}

// Decrypt returns the message inside encrypt, the base64 text of an
// <Encrypt> element: AES-256-CBC with IV = key[:16], PKCS#7 padding to 32
// bytes, and random(16) ‖ len(4, big-endian) ‖ msg ‖ appid inside. A
// ciphertext that does not decode is an invalid request; one whose appid is
// another account's is forbidden: it was encrypted with our key, so someone
// is replaying another account's traffic, or two accounts share a key.
func (c *Cipher) Decrypt(encrypt string) ([]byte, error) {
	ciphertext, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		return nil, kf.Errorf(kf.KindInvalid, "malformed_ciphertext", "malformed ciphertext: not base64")
	}
	if len(ciphertext) == 0 || len(ciphertext)%32 != 0 {
		return nil, kf.Errorf(kf.KindInvalid, "malformed_ciphertext",
			"malformed ciphertext: %d bytes is not a positive multiple of 32", len(ciphertext))
	}
	_, msg, appID, err := util.AESDecryptMsg(ciphertext, c.key)
	if err != nil {
		return nil, kf.Errorf(kf.KindInvalid, "malformed_ciphertext", "malformed ciphertext: bad padding or length")
	}
	if string(appID) != c.appID {
		return nil, kf.Errorf(kf.KindForbidden, "wrong_appid", "ciphertext is for another appid")
	}
	return msg, nil
}

// Encrypt returns the base64 <Encrypt> text of msg with fresh random bytes.
func (c *Cipher) Encrypt(msg []byte) string {
	var random [16]byte
	_, _ = rand.Read(random[:]) // crypto/rand.Read never fails (Go 1.24+)
	return c.EncryptWithRandom(random, msg)
}

// EncryptWithRandom is Encrypt with the 16 random bytes given, for test
// vectors that fix them.
func (c *Cipher) EncryptWithRandom(random [16]byte, msg []byte) string {
	return base64.StdEncoding.EncodeToString(util.AESEncryptMsg(random[:], msg, c.appID, c.key))
}
