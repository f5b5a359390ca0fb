package wxapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxMedia bounds a downloaded media file: WeChat's temporary media are at
// most 10 MB (image, video), 2 MB (voice), 64 KB (thumb).
const MaxMedia = 16 << 20

// ErrMediaTooLarge is a media file over MaxMedia: retrying cannot help.
var ErrMediaTooLarge = errors.New("wxapi: media file over 16 MiB")

// Media is a downloaded temporary media file.
type Media struct {
	Data        []byte
	ContentType string
}

// GetMedia downloads temporary media with media/get (获取临时素材): WeChat
// answers an image, voice or thumb with the file itself, a video with
// {"video_url": …}, a plain link fetched here without the access_token, and
// an error as JSON (40007 for an unknown or expired media_id, WeChat keeping
// temporary media 3 days).
func (c *Client) GetMedia(ctx context.Context, appid, mediaID string) (Media, error) {
	const op = "/cgi-bin/media/get"
	tok, err := c.tokens.Token(ctx, appid)
	if err != nil {
		return Media{}, fmt.Errorf("wxapi %s: %w", op, err)
	}
	q := url.Values{"media_id": {mediaID}}
	for retried := false; ; retried = true {
		q.Set("access_token", tok)
		start := time.Now()
		raw, ctype, err := c.hosts.doType(ctx, request{method: http.MethodGet, path: op, query: q})
		if err != nil {
			c.observe.call(appid, op, start, err)
			return Media{}, fmt.Errorf("wxapi %s: %w", op, err)
		}
		if len(raw) >= maxAnswer {
			c.observe.call(appid, op, start, nil)
			return Media{}, ErrMediaTooLarge
		}
		if !isJSONAnswer(ctype, raw) {
			c.observe.call(appid, op, start, nil)
			return Media{Data: raw, ContentType: mediaType(ctype, raw)}, nil
		}
		var a struct {
			errorAnswer
			VideoURL string `json:"video_url"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			err = &TransportError{Path: op, Status: http.StatusOK, Err: err}
			c.observe.call(appid, op, start, err)
			return Media{}, fmt.Errorf("wxapi %s: %w", op, err)
		}
		c.observe.code(appid, op, start, a.ErrCode)
		switch {
		case a.ErrCode != 0 && tokenRejected(a.ErrCode) && !retried:
			if tok, err = c.tokens.Invalidate(ctx, appid, tok); err != nil {
				return Media{}, fmt.Errorf("wxapi %s: after errcode %d: %w", op, a.ErrCode, err)
			}
			continue
		case a.ErrCode != 0:
			return Media{}, fmt.Errorf("wxapi %s: %w", op, &Error{Code: a.ErrCode, Msg: a.ErrMsg})
		case a.VideoURL != "":
			return c.download(ctx, a.VideoURL)
		}
		return Media{}, fmt.Errorf("wxapi %s: %w", op, &TransportError{Path: op, Status: http.StatusOK,
			Err: fmt.Errorf("a JSON answer with neither errcode nor video_url")})
	}
}

// isJSONAnswer tells WeChat's JSON answers (errors, video_url) from a
// file. WeChat labels its JSON application/json or text/plain; a file never
// starts with '{'.
func isJSONAnswer(ctype string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(ctype)
	if mt == "application/json" || mt == "text/plain" || mt == "" {
		return len(body) > 0 && strings.HasPrefix(strings.TrimSpace(string(body[:min(len(body), 16)])), "{")
	}
	return false
}

// mediaType is the file's Content-Type as WeChat labels it, or sniffed when
// it does not.
func mediaType(ctype string, body []byte) string {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil || mt == "" || mt == "application/octet-stream" {
		return http.DetectContentType(body)
	}
	return mt
}

// download fetches a video's video_url. The link carries no access_token
// and is on WeChat's download host, so no failover applies.
func (c *Client) download(ctx context.Context, link string) (Media, error) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return Media{}, &TransportError{Path: "video_url", Status: http.StatusOK, Err: fmt.Errorf("video_url is not an http(s) URL")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return Media{}, &TransportError{Path: "video_url", Err: stripURL(err)}
	}
	resp, err := c.hosts.hc.Do(req)
	if err != nil {
		return Media{}, &TransportError{Path: "video_url", Err: stripURL(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Media{}, &TransportError{Path: "video_url", Status: resp.StatusCode}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxMedia+1))
	if err != nil {
		return Media{}, &TransportError{Path: "video_url", Status: resp.StatusCode, Err: stripURL(err)}
	}
	if len(b) > MaxMedia {
		return Media{}, ErrMediaTooLarge
	}
	return Media{Data: b, ContentType: mediaType(resp.Header.Get("Content-Type"), b)}, nil
}
