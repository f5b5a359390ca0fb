package wxapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
)

// maxUpload bounds an uploaded file: WeChat's temporary media are at most
// 10 MB (video), kf avatars 5 MB.
const maxUpload = 10 << 20

// MediaKind is the type of temporary media.
type MediaKind string

// The temporary media types of media/upload.
const (
	MediaImage MediaKind = "image"
	MediaVoice MediaKind = "voice"
	MediaVideo MediaKind = "video"
	MediaThumb MediaKind = "thumb"
)

// UploadMedia uploads r as temporary media (valid 3 days) with
// media/upload and returns its media_id, for an image, voice or video
// custom message.
func (c *Client) UploadMedia(ctx context.Context, appid string, kind MediaKind, filename string, r io.Reader) (string, error) {
	req, err := multipartRequest("/cgi-bin/media/upload", url.Values{"type": {string(kind)}}, filename, r)
	if err != nil {
		return "", err
	}
	var a struct {
		MediaID      string `json:"media_id"`
		ThumbMediaID string `json:"thumb_media_id"`
	}
	if err := c.call(ctx, appid, req, &a); err != nil {
		return "", err
	}
	if a.MediaID == "" { // type=thumb names it thumb_media_id
		a.MediaID = a.ThumbMediaID
	}
	return a.MediaID, nil
}

// multipartRequest builds a POST of r as the form file "media", read into
// memory so the call can be repeated (failover, fresh token).
func multipartRequest(path string, q url.Values, filename string, r io.Reader) (request, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, err := w.CreateFormFile("media", filename)
	if err != nil {
		return request{}, fmt.Errorf("wxapi %s: %w", path, err)
	}
	n, err := io.Copy(part, io.LimitReader(r, maxUpload+1))
	if err != nil {
		return request{}, fmt.Errorf("wxapi %s: reading %s: %w", path, filename, err)
	}
	if n > maxUpload {
		return request{}, fmt.Errorf("wxapi %s: %s is over %d bytes", path, filename, maxUpload)
	}
	if err := w.Close(); err != nil {
		return request{}, fmt.Errorf("wxapi %s: %w", path, err)
	}
	return request{method: http.MethodPost, path: path, query: q, ctype: w.FormDataContentType(), body: buf.Bytes()}, nil
}
