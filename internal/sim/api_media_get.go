package sim

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// mediaFile is a media/get answer that is the file itself, not JSON.
type mediaFile struct {
	id    string
	ctype string
	data  []byte
}

// write answers like WeChat's media/get does for an image, voice or thumb:
// the bytes, with Content-Type and an attachment Content-disposition (WeChat
// spells it with a lower-case d) naming the file after its media_id.
func (f mediaFile) write(w http.ResponseWriter) {
	ext := ".bin"
	if exts, _ := mime.ExtensionsByType(f.ctype); len(exts) > 0 {
		ext = exts[0]
	}
	switch f.ctype { // the extensions WeChat uses
	case "image/jpeg":
		ext = ".jpg"
	case "audio/amr":
		ext = ".amr"
	case "audio/speex":
		ext = ".speex"
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h["Content-disposition"] = []string{fmt.Sprintf("attachment; filename=%q", f.id+ext)}
	h.Set("Cache-Control", "no-cache, must-revalidate")
	h.Set("Content-Length", strconv.Itoa(len(f.data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.data)
}

// getMedia serves GET /cgi-bin/media/get?media_id= (temporary media, WeChat's
// 获取临时素材): an image, voice or thumb is answered with its bytes; a video
// with {"video_url": …}, a plain-http link that needs no access_token (here
// /sim/video/<media_id> on the host the call came to). A media_id unknown to
// the account, or older than 3 days, → 40007 "invalid media_id".
func (a *API) getMedia(c *call) any {
	id := c.r.URL.Query().Get("media_id")
	m, ok := c.acct.media[id]
	if !ok || c.now.Sub(m.created) >= temporaryMedia || m.data == nil {
		return errf(40007)
	}
	if m.typ == "video" || m.typ == "shortvideo" {
		return struct {
			VideoURL string `json:"video_url"`
		}{VideoURL: "http://" + c.r.Host + "/sim/video/" + id}
	}
	return mediaFile{id: id, ctype: m.ctype, data: m.data}
}

// serveVideo serves the download link of a video's media/get answer.
func (a *API) serveVideo(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/sim/video/")
	a.mu.Lock()
	var found *media
	for _, acct := range a.accounts {
		if m, ok := acct.media[id]; ok && (m.typ == "video" || m.typ == "shortvideo") && a.now().Sub(m.created) < temporaryMedia {
			found = &m
			break
		}
	}
	a.mu.Unlock()
	if found == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", found.ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(found.data)))
	_, _ = w.Write(found.data)
}

// AddMedia stores data as temporary media of appid that a simulated user
// sent (an image, voice, video, shortvideo or a video's thumb), as WeChat
// does before it pushes the message, and returns its media_id for the
// message's MediaId or ThumbMediaId. ctype "" is sniffed from data.
func (a *API) AddMedia(appid, typ string, data []byte, ctype string) (string, error) {
	switch typ {
	case "image", "voice", "video", "shortvideo", "thumb":
	default:
		return "", fmt.Errorf("sim: media type %q", typ)
	}
	if len(data) == 0 {
		return "", fmt.Errorf("sim: empty media")
	}
	if ctype == "" {
		ctype = http.DetectContentType(data)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	acct := a.accounts[appid]
	if acct == nil {
		return "", fmt.Errorf("sim: no account %q", appid)
	}
	id := randomString(48)
	acct.media[id] = media{typ: typ, created: a.now(), data: append([]byte(nil), data...), ctype: ctype}
	return id, nil
}
