package kf

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Item is one message of a conversation as agents and admins see it, in
// either direction: the "message" of a message.received event, each entry
// of the context list (replayed on transfer and on assignment from the
// queue), and the live transcript of the API. docs/events.md shows it.
type Item struct {
	// ID is WeChat's MsgId of a user's message, or the outbox entry id of
	// a message to the user.
	ID        string `json:"id,omitempty"`
	Direction string `json:"direction"`       // in (from the user) | out (to the user)
	Author    string `json:"author"`          // user | agent | system (notices, the survey)
	Agent     string `json:"agent,omitempty"` // out, author agent: who wrote it
	Kind      string `json:"kind,omitempty"`  // out: agent | notice | survey
	// Type is WeChat's MsgType of a user's message (text, image, …,
	// event), or custom/send's msgtype of a message to the user.
	Type    string `json:"type"`
	Content string `json:"content,omitempty"`
	MediaID string `json:"media_id,omitempty"`
	Event   string `json:"event,omitempty"` // the Event of a user's event message
	Rich
	CreateTime int64 `json:"create_time,omitempty"` // in: WeChat's CreateTime, Unix seconds
	At         int64 `json:"at"`                    // Unix ms: when kfgate received or sent it
}

// Rich is what a message carries besides its type, text and media id:
// everything else WeChat sends (the archive keeps it as the jsonb payload
// of the message's row). MediaURL and ThumbMediaURL are kfgate's, set for
// image, voice, video and shortvideo: where GET /api/v1/media/{id} serves
// the media (see package media).
type Rich struct {
	MediaURL      string `json:"media_url,omitempty"`
	PicURL        string `json:"pic_url,omitempty"`
	MediaID16K    string `json:"media_id_16k,omitempty"`
	Format        string `json:"format,omitempty"`      // voice: amr, speex
	Recognition   string `json:"recognition,omitempty"` // voice: WeChat's speech recognition
	ThumbMediaID  string `json:"thumb_media_id,omitempty"`
	ThumbMediaURL string `json:"thumb_media_url,omitempty"`

	Location *Location `json:"location,omitempty"` // location message, location_select

	Title       string `json:"title,omitempty"` // link, file, miniprogrampage
	Description string `json:"description,omitempty"`
	URL         string `json:"url,omitempty"`

	AppID    string `json:"app_id,omitempty"` // miniprogrampage
	PagePath string `json:"page_path,omitempty"`
	ThumbURL string `json:"thumb_url,omitempty"`

	FileKey      string `json:"file_key,omitempty"` // file
	FileMD5      string `json:"file_md5,omitempty"`
	FileTotalLen int64  `json:"file_total_len,omitempty"`

	BizMsgMenuID string `json:"bizmsgmenuid,omitempty"`

	EventKey     string        `json:"event_key,omitempty"` // CLICK: the menu key; SCAN, subscribe: the scene
	Ticket       string        `json:"ticket,omitempty"`
	MenuID       string        `json:"menu_id,omitempty"`
	Latitude     float64       `json:"latitude,omitempty"` // LOCATION event
	Longitude    float64       `json:"longitude,omitempty"`
	Precision    float64       `json:"precision,omitempty"`
	ScanCodeInfo *ScanCodeInfo `json:"scan_code_info,omitempty"`
	SendPicsInfo *SendPicsInfo `json:"send_pics_info,omitempty"`

	// Extra holds the elements of the push kfgate has no field for.
	Extra map[string]string `json:"extra,omitempty"`
}

// IsZero reports whether r carries nothing.
func (r *Rich) IsZero() bool {
	return r.MediaURL == "" && r.PicURL == "" && r.MediaID16K == "" && r.Format == "" && r.Recognition == "" &&
		r.ThumbMediaID == "" && r.ThumbMediaURL == "" && r.Location == nil && r.Title == "" && r.Description == "" &&
		r.URL == "" && r.AppID == "" && r.PagePath == "" && r.ThumbURL == "" && r.FileKey == "" && r.FileMD5 == "" &&
		r.FileTotalLen == 0 && r.BizMsgMenuID == "" && r.EventKey == "" && r.Ticket == "" && r.MenuID == "" &&
		r.Latitude == 0 && r.Longitude == 0 && r.Precision == 0 && r.ScanCodeInfo == nil && r.SendPicsInfo == nil &&
		len(r.Extra) == 0
}

// ItemOf is the Item of a user's message received at atMS (Unix ms).
// MediaURL and ThumbMediaURL are left to the caller.
func ItemOf(m *Message, atMS int64) Item {
	return Item{ID: m.MsgID, Direction: "in", Author: "user", Type: string(m.Type), Content: m.Content,
		MediaID: m.MediaID, Event: string(m.Event), CreateTime: m.CreateTime, At: atMS,
		Rich: Rich{PicURL: m.PicURL, MediaID16K: m.MediaID16K, Format: m.Format, Recognition: m.Recognition,
			ThumbMediaID: m.ThumbMediaID, Location: m.Location, Title: m.Title, Description: m.Description, URL: m.URL,
			AppID: m.AppID, PagePath: m.PagePath, ThumbURL: m.ThumbURL,
			FileKey: m.FileKey, FileMD5: m.FileMD5, FileTotalLen: m.FileTotalLen, BizMsgMenuID: m.BizMsgMenuID,
			EventKey: m.EventKey, Ticket: m.Ticket, MenuID: m.MenuID,
			Latitude: m.Latitude, Longitude: m.Longitude, Precision: m.Precision,
			ScanCodeInfo: m.ScanCodeInfo, SendPicsInfo: m.SendPicsInfo, Extra: m.Extra}}
}

// Preview is a message shortened for the live list of sessions.
type Preview struct {
	Direction string `json:"direction"` // in | out
	Author    string `json:"author"`    // user | agent | system
	Agent     string `json:"agent,omitempty"`
	Type      string `json:"type"`
	Text      string `json:"text"` // the text, cut to PreviewRunes; or a label such as "[image]"
	At        int64  `json:"at"`   // Unix ms
}

// PreviewRunes is the most characters of text a preview keeps.
const PreviewRunes = 80

// Preview shortens it for the live list.
func (it *Item) Preview() Preview {
	p := Preview{Direction: it.Direction, Author: it.Author, Agent: it.Agent, Type: it.Type, At: it.At}
	label := func(tag string, text ...string) string {
		return strings.TrimSpace("[" + tag + "] " + strings.Join(text, " "))
	}
	switch MsgType(it.Type) {
	case MsgText:
		p.Text = it.Content
	case MsgVoice:
		p.Text = label("voice", it.Recognition)
	case MsgVideo, MsgShortVideo:
		p.Text = label("video")
	case MsgLocation:
		if it.Location != nil {
			p.Text = label("location", it.Location.Label)
		} else {
			p.Text = label("location")
		}
	case MsgLink, MsgFile, MsgMiniProgramPage:
		p.Text = label(it.Type, it.Title)
	case MsgEvent:
		p.Text = label("event", it.Event, it.EventKey)
	default:
		p.Text = label(it.Type)
	}
	if utf8.RuneCountInString(p.Text) > PreviewRunes {
		r := []rune(p.Text)
		p.Text = string(r[:PreviewRunes]) + "…"
	}
	return p
}

// StoredPreviewBytes is the most bytes a stored preview takes: Redis's
// default hash-max-listpack-value, so that the session hash keeping it
// stays in the compact encoding (docs/redis.md).
const StoredPreviewBytes = 64

var (
	shortDirection = map[string]string{"in": "i", "out": "o"}
	shortAuthor    = map[string]string{"user": "u", "agent": "a", "system": "s"}
)

func short(m map[string]string, v string) string {
	if s, ok := m[v]; ok {
		return s
	}
	return v
}

func long(m map[string]string, v string) string {
	for k, s := range m {
		if s == v {
			return k
		}
	}
	return v
}

// Stored returns p as the session hash keeps it: direction and author in
// a letter, the time in base 36, the text cut at a character so that the
// whole takes at most StoredPreviewBytes: "i|u|agent|type|at|text".
// ParseStoredPreview reads it back.
func (p Preview) Stored() string {
	head := short(shortDirection, p.Direction) + "|" + short(shortAuthor, p.Author) + "|" + p.Agent + "|" + p.Type + "|" +
		strconv.FormatInt(p.At, 36) + "|"
	text := p.Text
	if len(head)+len(text) > StoredPreviewBytes {
		room := StoredPreviewBytes - len(head) - len("…")
		cut := 0
		for i := range text {
			if i > room {
				break
			}
			cut = i
		}
		text = text[:max(cut, 0)] + "…"
	}
	return head + text
}

// ParseStoredPreview reads a preview Stored wrote, or the JSON an earlier
// version stored.
func ParseStoredPreview(s string) (Preview, bool) {
	var p Preview
	if strings.HasPrefix(s, "{") {
		return p, json.Unmarshal([]byte(s), &p) == nil
	}
	f := strings.SplitN(s, "|", 6)
	if len(f) != 6 {
		return p, false
	}
	at, err := strconv.ParseInt(f[4], 36, 64)
	if err != nil {
		return p, false
	}
	return Preview{Direction: long(shortDirection, f[0]), Author: long(shortAuthor, f[1]), Agent: f[2], Type: f[3], At: at, Text: f[5]}, true
}
