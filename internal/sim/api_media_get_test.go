package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// media/get answers like WeChat: an image's bytes with its Content-Type and
// an attachment Content-disposition; a video's video_url, a link that needs
// no token; 40007 for an unknown or expired media_id, as JSON.
func TestMediaGet(t *testing.T) {
	h := newHarness(t, APIOptions{})
	tok := h.token(appA, secretA)
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte("pixels"), 100)...)
	img, err := h.api.AddMedia(appA, "image", jpeg, "")
	if err != nil {
		t.Fatal(err)
	}
	video, _ := h.api.AddMedia(appA, "video", []byte("\x00\x00\x00\x18ftypmp42 video bytes"), "video/mp4")
	get := func(id, token string) *http.Response {
		t.Helper()
		resp, err := http.Get(h.srv.URL + "/cgi-bin/media/get?" + url.Values{"access_token": {token}, "media_id": {id}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp := get(img, tok)
	body, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(body, jpeg) || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("image = %q %q, want the bytes as image/jpeg", resp.Header.Get("Content-Type"), body[:8])
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+img+`.jpg"` {
		t.Errorf("Content-disposition = %q", cd)
	}

	resp = get(video, tok)
	var v struct {
		VideoURL string `json:"video_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || !strings.HasPrefix(v.VideoURL, "http://") {
		t.Fatalf("video answer: %v %+v", err, v)
	}
	vr, err := http.Get(v.VideoURL)
	if err != nil {
		t.Fatal(err)
	}
	vb, _ := io.ReadAll(vr.Body)
	vr.Body.Close()
	if string(vb) != "\x00\x00\x00\x18ftypmp42 video bytes" || vr.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("video download = %q %q", vr.Header.Get("Content-Type"), vb)
	}

	for name, id := range map[string]string{"unknown": "nope", "other account's": ""} {
		if name == "other account's" {
			id, _ = h.api.AddMedia(appB, "image", jpeg, "")
		}
		var a answer
		if err := json.NewDecoder(get(id, tok).Body).Decode(&a); err != nil || a.code() != 40007 {
			t.Errorf("%s media_id: %v %v, want 40007", name, err, a)
		}
	}
	h.clock.Add(72 * time.Hour)
	var a answer
	if err := json.NewDecoder(get(img, h.token(appA, secretA)).Body).Decode(&a); err != nil || a.code() != 40007 {
		t.Errorf("media after 3 days: %v %v, want 40007", err, a)
	}
	if _, err := h.api.AddMedia(appA, "file", jpeg, ""); err == nil {
		t.Error("AddMedia took an unknown type")
	}
}
