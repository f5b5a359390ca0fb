package sim

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"
)

// media is one temporary media file uploaded with media/upload.
type media struct {
	typ     string
	created time.Time
	data    []byte // the file, served by media/get
	ctype   string // its Content-Type
}

// uploadMedia serves POST /cgi-bin/media/upload?type=image|voice|video|thumb
// (temporary media, D-TEMPMEDIA): a bad type → 40004, no multipart field
// "media" → 41005. The answer is {"type","media_id","created_at"}; for
// type=thumb WeChat names the id thumb_media_id, so the simulator sends both
// fields there. Sizes are not checked; ids expire after 3 days.
func (a *API) uploadMedia(c *call) any {
	typ := c.r.URL.Query().Get("type")
	switch typ {
	case "image", "voice", "video", "thumb":
	default:
		return errf(40004)
	}
	data, ok := formFile(c, "media")
	if !ok {
		return errf(41005)
	}
	id := randomString(48)
	c.acct.media[id] = media{typ: typ, created: c.now, data: data, ctype: http.DetectContentType(data)}
	resp := struct {
		Type         string `json:"type"`
		MediaID      string `json:"media_id"`
		ThumbMediaID string `json:"thumb_media_id,omitempty"`
		CreatedAt    int64  `json:"created_at"`
	}{Type: typ, MediaID: id, CreatedAt: c.now.Unix()}
	if typ == "thumb" {
		resp.ThumbMediaID = id
	}
	return resp
}

// formFile returns the content of the non-empty multipart/form-data field
// name of the call's body.
func formFile(c *call, name string) ([]byte, bool) {
	mt, params, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, false
	}
	mr := multipart.NewReader(bytes.NewReader(c.body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil { // io.EOF: no such field
			return nil, false
		}
		if p.FormName() != name {
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil || len(b) == 0 {
			return nil, false
		}
		return b, true
	}
}
