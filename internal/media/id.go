// Package media keeps the media users send (images, voice, video) and
// serves it at /api/v1/media/{id}. This file names a medium: the id is
// derived from the account and WeChat's media_id, so the engine can put a
// message's media_url in its event before the medium is downloaded, and
// every replica computes the same one.
package media

import (
	"crypto/sha256"
	"encoding/base64"
)

// Prefix is the API path under which media is served.
const Prefix = "/api/v1/media/"

// ID names the medium mediaID of an account: the unpadded base64url of the
// first 16 bytes of SHA-256(account, NUL, mediaID) — 22 URL-safe
// characters that reveal neither the media_id nor the account.
func ID(account, mediaID string) string {
	h := sha256.New()
	h.Write([]byte(account))
	h.Write([]byte{0})
	h.Write([]byte(mediaID))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// URL is the path where the medium is served: Prefix + ID.
func URL(account, mediaID string) string { return Prefix + ID(account, mediaID) }
