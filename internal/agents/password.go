package agents

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/kfgate/kfgate/internal/kf"
)

// Passwords are hashed with argon2id and kept in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash, unpadded standard base64), so the
// parameters travel with each hash and can be raised later without
// invalidating the hashes already stored.
//
// The parameters are OWASP's second recommended set for argon2id (19 MiB,
// two passes, one lane): about 20 ms on these machines, which a sign-in
// can afford and an offline guesser cannot.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16

	// MinPassword and MaxPassword bound a new password, in characters.
	MinPassword = 8
	MaxPassword = 256
)

// CheckNewPassword returns why pw cannot be a password, or nil.
func CheckNewPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if !utf8.ValidString(pw) || n < MinPassword || n > MaxPassword {
		return kf.Errorf(kf.KindInvalid, "bad_password", "a password is %d to %d characters", MinPassword, MaxPassword)
	}
	return nil
}

// HashPassword returns the PHC-encoded argon2id hash of pw with a new
// random salt.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// phc is a decoded argon2id hash.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parsePHC decodes an argon2id PHC string, refusing parameters that would
// make a check absurdly expensive (a corrupted or hostile record must not
// make sign-in allocate gigabytes).
func parsePHC(encoded string) (phc, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, fmt.Errorf("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return phc{}, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	var h phc
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return phc{}, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	if h.memory < 8 || h.memory > 1<<20 || h.time < 1 || h.time > 16 || h.threads < 1 || h.threads > 16 {
		return phc{}, fmt.Errorf("argon2 parameters out of range %q", parts[3])
	}
	var err error
	b64 := base64.RawStdEncoding
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return phc{}, fmt.Errorf("bad argon2 salt")
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return phc{}, fmt.Errorf("bad argon2 key")
	}
	return h, nil
}

// CheckPassword reports whether pw matches the encoded hash, comparing
// the derived keys in constant time. A malformed hash matches nothing.
func CheckPassword(encoded, pw string) bool {
	h, err := parsePHC(encoded)
	if err != nil {
		return false
	}
	key := argon2.IDKey([]byte(pw), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// dummyHash is checked against when a sign-in names nobody, so that an
// unknown name costs as long as a wrong password (no user enumeration by
// timing).
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("kfgate: nobody has this password")
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return h
})
