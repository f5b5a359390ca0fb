package wxmsg

import (
	"encoding/xml"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/silenceper/wechat/v2/officialaccount/message"

	"github.com/kfgate/kfgate/internal/kf"
)

// common is what kf.Message and silenceper's MixMessage both carry, in one
// shape, so that the two decodings of a golden file can be compared.
type common struct {
	ToUserName, FromUserName string
	CreateTime               int64
	MsgType, MsgID           string
	Content, BizMsgMenuID    string
	PicURL, MediaID, Format  string
	Recognition, ThumbMedia  string
	Title, Description, URL  string
	Location                 location // the location message
	Event, EventKey, Ticket  string
	MenuID, Status           string
	Latitude, Longitude      float64
	Precision                float64
	TotalCount, FilterCount  int64
	SentCount, ErrorCount    int64
	ScanType, ScanResult     string
	PicCount                 int
	PicMD5s                  []string
	SendLocation             location // the location_select event
	LastPopup                popup
	Publish                  publish
}

type location struct {
	X, Y, Scale    float64
	Label, Poiname string
}

type popup struct{ TemplateID, Status, Scene string }

type publish struct {
	ID, Status, ArticleID, Count, LastIdx, LastURL, LastFail string
}

func fromMix(t *testing.T, mm *message.MixMessage) common {
	c := common{
		ToUserName: string(mm.ToUserName), FromUserName: string(mm.FromUserName),
		CreateTime: mm.CreateTime, MsgType: string(mm.MsgType),
		Content: mm.Content, Recognition: mm.Recognition, PicURL: mm.PicURL,
		MediaID: mm.MediaID, Format: mm.Format, ThumbMedia: mm.ThumbMediaID,
		Title: mm.Title, Description: mm.Description, URL: mm.URL,
		Location: location{X: mm.LocationX, Y: mm.LocationY, Scale: mm.Scale, Label: mm.Label},
		Event:    string(mm.Event), EventKey: mm.EventKey, Ticket: mm.Ticket,
		MenuID: mm.MenuID, Status: mm.Status,
		Latitude: parseF(t, mm.Latitude), Longitude: parseF(t, mm.Longitude), Precision: parseF(t, mm.Precision),
		TotalCount: mm.TotalCount, FilterCount: mm.FilterCount, SentCount: mm.SentCount, ErrorCount: mm.ErrorCount,
		ScanType: mm.ScanCodeInfo.ScanType, ScanResult: mm.ScanCodeInfo.ScanResult,
		PicCount: int(mm.SendPicsInfo.Count),
		SendLocation: location{X: mm.SendLocationInfo.LocationX, Y: mm.SendLocationInfo.LocationY,
			Scale: mm.SendLocationInfo.Scale, Label: mm.SendLocationInfo.Label, Poiname: mm.SendLocationInfo.Poiname},
	}
	// MixMessage has MsgId and MsgID as separate int64 fields.
	switch {
	case mm.MsgID != 0:
		c.MsgID = strconv.FormatInt(mm.MsgID, 10)
	case mm.TemplateMsgID != 0:
		c.MsgID = strconv.FormatInt(mm.TemplateMsgID, 10)
	}
	if mm.BizMsgMenuID != 0 {
		c.BizMsgMenuID = strconv.FormatInt(mm.BizMsgMenuID, 10)
	}
	for _, p := range mm.SendPicsInfo.PicList {
		c.PicMD5s = append(c.PicMD5s, p.PicMd5Sum)
	}
	// MixMessage reads each <SubscribeMsgPopupEvent> into one List, so of
	// several items it keeps the last.
	if pops := mm.GetSubscribeMsgPopupEvents(); len(pops) > 0 {
		p := pops[len(pops)-1]
		c.LastPopup = popup{p.TemplateID, p.SubscribeStatusString, strconv.Itoa(p.PopupScene)}
	}
	if mm.Event == message.EventPublishJobFinish {
		pi := mm.PublishEventInfo
		c.Publish = publish{
			ID:        strconv.FormatInt(pi.PublishID, 10),
			Status:    strconv.FormatUint(uint64(pi.PublishStatus), 10),
			ArticleID: pi.ArticleID,
		}
		if n := len(pi.ArticleDetail.Item); n > 0 {
			c.Publish.Count = strconv.FormatUint(uint64(pi.ArticleDetail.Count), 10)
			c.Publish.LastIdx = strconv.FormatUint(uint64(pi.ArticleDetail.Item[n-1].Index), 10)
			c.Publish.LastURL = pi.ArticleDetail.Item[n-1].ArticleURL
		}
		if n := len(pi.FailIndex); n > 0 {
			c.Publish.LastFail = strconv.FormatUint(uint64(pi.FailIndex[n-1]), 10)
		}
	}
	return c
}

func fromMessage(m *kf.Message) common {
	c := common{
		ToUserName: m.ToUserName, FromUserName: m.OpenID, CreateTime: m.CreateTime,
		MsgType: string(m.Type), MsgID: m.MsgID, Content: m.Content, BizMsgMenuID: m.BizMsgMenuID,
		PicURL: m.PicURL, MediaID: m.MediaID, Format: m.Format, Recognition: m.Recognition,
		ThumbMedia: m.ThumbMediaID, Title: m.Title, Description: m.Description, URL: m.URL,
		Event: string(m.Event), EventKey: m.EventKey, Ticket: m.Ticket, MenuID: m.MenuID, Status: m.Status,
		Latitude: m.Latitude, Longitude: m.Longitude, Precision: m.Precision,
		TotalCount: m.TotalCount, FilterCount: m.FilterCount, SentCount: m.SentCount, ErrorCount: m.ErrorCount,
	}
	// kf.Message has one Location for the message and for location_select.
	if l := m.Location; l != nil {
		loc := location{X: l.Latitude, Y: l.Longitude, Scale: float64(l.Scale), Label: l.Label, Poiname: l.Poiname}
		if m.Event == kf.EventLocationSelect {
			c.SendLocation = loc
		} else {
			c.Location = loc
		}
	}
	if s := m.ScanCodeInfo; s != nil {
		c.ScanType, c.ScanResult = s.ScanType, s.ScanResult
	}
	if p := m.SendPicsInfo; p != nil {
		c.PicCount, c.PicMD5s = p.Count, p.PicMD5s
	}
	if m.Event == kf.EventSubscribeMsgPopup && len(m.Subscriptions) > 0 {
		s := m.Subscriptions[len(m.Subscriptions)-1]
		c.LastPopup = popup{s.TemplateID, s.SubscribeStatusString, s.PopupScene}
	}
	if m.Event == kf.EventPublishJobFinish {
		x := m.Extra
		c.Publish = publish{
			ID: x["PublishEventInfo/publish_id"], Status: x["PublishEventInfo/publish_status"],
			ArticleID: x["PublishEventInfo/article_id"], Count: x["PublishEventInfo/article_detail/count"],
			LastIdx: x["PublishEventInfo/article_detail/item/idx"], LastURL: x["PublishEventInfo/article_detail/item/article_url"],
			LastFail: x["PublishEventInfo/fail_idx"],
		}
	}
	return c
}

func parseF(t *testing.T, s string) float64 {
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDifferential decodes every golden file with Decode and with
// encoding/xml into silenceper's MixMessage, and compares what both know.
func TestDifferential(t *testing.T) {
	for name, raw := range goldenFiles(t) {
		t.Run(name, func(t *testing.T) {
			var mm message.MixMessage
			if err := xml.Unmarshal(raw, &mm); err != nil {
				t.Fatalf("encoding/xml: %v", err)
			}
			m, err := Decode(raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(fromMix(t, &mm), fromMessage(&m)); diff != "" {
				t.Errorf("MixMessage vs Decode (-silenceper +wxmsg):\n%s", diff)
			}
		})
	}
}
