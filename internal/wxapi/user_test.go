package wxapi

import (
	"bytes"
	"slices"
	"testing"
)

// The media and user-management calls against the simulator: a user's
// image and video come back byte for byte, an unknown media_id is 40007;
// a remark and a tag set through the API show in user/info.
func TestMediaAndUserCalls(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	c := e.client(t, e.tokens(t, TokenStable))
	const app, user = "wxapp1", "o_user_calls"
	e.interact(t, app, user)

	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xdb}, bytes.Repeat([]byte{7}, 5000)...)
	img, _ := e.api.AddMedia(app, "image", jpeg, "")
	mp4 := []byte("\x00\x00\x00\x18ftypmp42 a short video")
	vid, _ := e.api.AddMedia(app, "video", mp4, "video/mp4")
	for name, tc := range map[string]struct {
		id, ctype string
		data      []byte
	}{"image": {img, "image/jpeg", jpeg}, "video": {vid, "video/mp4", mp4}} {
		m, err := c.GetMedia(ctx, app, tc.id)
		if err != nil || !bytes.Equal(m.Data, tc.data) || m.ContentType != tc.ctype {
			t.Errorf("GetMedia %s = %q %d bytes, %v", name, m.ContentType, len(m.Data), err)
		}
	}
	if _, err := c.GetMedia(ctx, app, "gone"); Code(err) != 40007 || !Permanent(err) {
		t.Errorf("GetMedia unknown = %v, want permanent 40007", err)
	}

	info, err := c.UserInfo(ctx, app, user)
	if err != nil || info.Subscribe != 1 || info.OpenID != user || info.SubscribeTime == 0 || len(info.TagIDs) != 0 {
		t.Fatalf("UserInfo = %+v, %v", info, err)
	}
	if _, err := c.UserInfo(ctx, app, "o_stranger"); Code(err) != 40003 {
		t.Errorf("UserInfo stranger = %v, want 40003", err)
	}
	if err := c.UpdateRemark(ctx, app, user, "老客户 VIP"); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateRemark(ctx, app, user, string(bytes.Repeat([]byte("长"), 31))); Code(err) != 45002 {
		t.Errorf("UpdateRemark of 31 characters = %v, want 45002", err)
	}
	tags, err := c.Tags(ctx, app)
	if err != nil || len(tags) != 1 || tags[0].ID != 2 {
		t.Fatalf("Tags = %+v, %v", tags, err)
	}
	if err := c.TagUsers(ctx, app, 2, []string{user}, false); err != nil {
		t.Fatal(err)
	}
	if err := c.TagUsers(ctx, app, 999, []string{user}, false); Code(err) != 45159 {
		t.Errorf("TagUsers unknown tag = %v, want 45159", err)
	}
	info, _ = c.UserInfo(ctx, app, user)
	if info.Remark != "老客户 VIP" || !slices.Equal(info.TagIDs, []int{2}) {
		t.Errorf("after remark and tag: %+v", info)
	}
	if err := c.TagUsers(ctx, app, 2, []string{user}, true); err != nil {
		t.Fatal(err)
	}
	if tags, _ := c.Tags(ctx, app); tags[0].Count != 0 {
		t.Errorf("tag count after untagging = %d", tags[0].Count)
	}
}

// WeChat's media/get answers are told apart by their Content-Type and first
// bytes; any answer is classified without a panic, and a file never counts
// as JSON unless it starts with '{'.
func FuzzMediaAnswer(f *testing.F) {
	f.Add("image/jpeg", []byte{0xff, 0xd8, 0xff})
	f.Add("application/json; encoding=utf-8", []byte(`{"errcode":40007,"errmsg":"invalid media_id"}`))
	f.Add("text/plain", []byte(`{"video_url":"http://x"}`))
	f.Add("", []byte(""))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		isJSON := isJSONAnswer(ctype, body)
		if isJSON && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			t.Fatalf("%q %q counted as JSON", ctype, body)
		}
		if !isJSON && mediaType(ctype, body) == "" {
			t.Fatalf("%q %q: no content type", ctype, body)
		}
	})
}
