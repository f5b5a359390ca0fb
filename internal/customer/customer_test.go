package customer

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/redistest"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// fakeWeChat is one user's profile at WeChat, recording the calls.
type fakeWeChat struct {
	info  wxapi.UserInfo
	calls []string
}

func (f *fakeWeChat) UserInfo(_ context.Context, _, openid string) (wxapi.UserInfo, error) {
	f.calls = append(f.calls, "info")
	if openid != f.info.OpenID {
		return wxapi.UserInfo{}, &wxapi.Error{Code: 40003, Msg: "invalid openid"}
	}
	i := f.info
	i.TagIDs = slices.Clone(f.info.TagIDs)
	return i, nil
}

func (f *fakeWeChat) UpdateRemark(_ context.Context, _, _, remark string) error {
	f.calls = append(f.calls, "remark")
	f.info.Remark = remark
	return nil
}

func (f *fakeWeChat) Tags(context.Context, string) ([]wxapi.Tag, error) {
	f.calls = append(f.calls, "tags")
	return []wxapi.Tag{{ID: 2, Name: "星标组"}}, nil
}

func (f *fakeWeChat) TagUsers(_ context.Context, _ string, tag int, _ []string, untag bool) error {
	if untag {
		f.calls = append(f.calls, "untag")
		f.info.TagIDs = slices.DeleteFunc(f.info.TagIDs, func(t int) bool { return t == tag })
	} else {
		f.calls = append(f.calls, "tag")
		f.info.TagIDs = append(f.info.TagIDs, tag)
	}
	return nil
}

// A profile is read once and then cached; an update makes only the calls
// the change needs and returns what WeChat has afterwards.
func TestProfileAndUpdate(t *testing.T) {
	rdb, prefix := redistest.New(t)
	wx := &fakeWeChat{info: wxapi.UserInfo{Subscribe: 1, OpenID: "o1", Remark: "old", TagIDs: []int{2, 5}}}
	s := New(Options{Redis: rdb, Prefix: prefix, WeChat: wx, TTL: time.Minute})
	ctx := t.Context()
	for range 2 {
		if p, err := s.Profile(ctx, "wx1", "o1"); err != nil || p.Remark != "old" || p.Account != "wx1" {
			t.Fatalf("Profile = %+v %v", p, err)
		}
	}
	if !slices.Equal(wx.calls, []string{"info"}) {
		t.Errorf("calls after two reads: %v, want one user/info", wx.calls)
	}
	if _, err := s.Profile(ctx, "wx1", "o_nobody"); kf.KindOf(err) != kf.KindNotFound {
		t.Errorf("unknown user: %v, want not found", err)
	}

	wx.calls = nil
	remark, tags := "new", []int{5, 7}
	p, err := s.Update(ctx, "wx1", "o1", Change{Remark: &remark, Tags: &tags})
	if err != nil || p.Remark != "new" || !slices.Equal(p.TagIDs, []int{5, 7}) {
		t.Fatalf("Update = %+v %v", p, err)
	}
	if want := []string{"info", "remark", "tag", "untag", "info"}; !slices.Equal(wx.calls, want) {
		t.Errorf("calls = %v, want %v", wx.calls, want)
	}
	wx.calls = nil
	if _, err := s.Update(ctx, "wx1", "o1", Change{Remark: &remark}); err != nil || slices.Contains(wx.calls, "remark") {
		t.Errorf("an unchanged remark was sent again: %v %v", wx.calls, err)
	}
	if got, _ := s.TagsOf(ctx, "wx1", "o1", time.Second); !slices.Equal(got, []int{5, 7}) {
		t.Errorf("TagsOf = %v", got)
	}
	long := strings.Repeat("长", 31)
	many := make([]int, 21)
	for _, c := range []Change{{}, {Remark: &long}, {Tags: &many}} {
		if _, err := s.Update(ctx, "wx1", "o1", c); kf.KindOf(err) != kf.KindInvalid {
			t.Errorf("Update %+v: %v, want invalid", c, err)
		}
	}
}
