// Package media keeps the media users send (images, voice, video) before
// WeChat deletes them, and serves them to agents.
package media

import (
	"crypto/sha256"
	"encoding/base64"
)

// ID is kfgate's stable id of a WeChat media id of an account: unpadded
// base64url of the first 16 bytes of SHA-256(account + "\x00" + mediaID).
// Every replica computes the same id from the message alone, so events can
// carry the media's URL before it is downloaded.
func ID(account, mediaID string) string {
	sum := sha256.Sum256([]byte(account + "\x00" + mediaID))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// URL is the API path that serves the media: "/api/v1/media/" + ID.
func URL(account, mediaID string) string {
	return "/api/v1/media/" + ID(account, mediaID)
}
