// Package kf is kfgate's domain vocabulary: the messages users send to an
// official account, the events WeChat pushes, and the kinds of error every
// layer shares. It imports no infrastructure: no HTTP, no Redis, no WeChat SDK.
package kf

// MsgType is WeChat's MsgType of a pushed message ("text", "event", …).
// Values kfgate does not know are kept as they arrive.
type MsgType string

// The seven ordinary message types and the event type (docs/wechat.md, "Messages and events").
const (
	MsgText       MsgType = "text"
	MsgImage      MsgType = "image"
	MsgVoice      MsgType = "voice"
	MsgVideo      MsgType = "video"
	MsgShortVideo MsgType = "shortvideo"
	MsgLocation   MsgType = "location"
	MsgLink       MsgType = "link"
	MsgEvent      MsgType = "event"
	// A file a user sends, and a mini program card (miniprogrampage)
	// shared into the conversation.
	MsgFile            MsgType = "file"
	MsgMiniProgramPage MsgType = "miniprogrampage"
)

// EventType is the Event of a message whose MsgType is "event". WeChat is
// inconsistent about case (SCAN, LOCATION, CLICK, VIEW are upper case; the
// rest lower case); the constants spell each as WeChat sends it.
type EventType string

// Events a customer-service gateway sees (docs/wechat.md, "Messages and events").
const (
	EventSubscribe             EventType = "subscribe"
	EventUnsubscribe           EventType = "unsubscribe"
	EventScan                  EventType = "SCAN"
	EventLocation              EventType = "LOCATION"
	EventClick                 EventType = "CLICK"
	EventView                  EventType = "VIEW"
	EventKfCreateSession       EventType = "kf_create_session"
	EventKfCloseSession        EventType = "kf_close_session"
	EventKfSwitchSession       EventType = "kf_switch_session"
	EventTemplateSendJobFinish EventType = "TEMPLATESENDJOBFINISH"
	EventMassSendJobFinish     EventType = "MASSSENDJOBFINISH"
	EventScancodePush          EventType = "scancode_push"
	EventScancodeWaitmsg       EventType = "scancode_waitmsg"
	EventPicSysphoto           EventType = "pic_sysphoto"
	EventPicPhotoOrAlbum       EventType = "pic_photo_or_album"
	EventPicWeixin             EventType = "pic_weixin"
	EventLocationSelect        EventType = "location_select"
	EventViewMiniprogram       EventType = "view_miniprogram"
	EventSubscribeMsgPopup     EventType = "subscribe_msg_popup_event"
	EventSubscribeMsgChange    EventType = "subscribe_msg_change_event"
	EventSubscribeMsgSent      EventType = "subscribe_msg_sent_event"
	EventPublishJobFinish      EventType = "PUBLISHJOBFINISH"
)

// Message is one push from WeChat to an official account's server URL,
// decoded: an ordinary user message or an event. Fields a type does not use
// stay zero. A message of a type kfgate does not know still decodes: its
// common fields are set, every other element lands in Extra, and Raw keeps
// the XML as it arrived (after decryption).
type Message struct {
	// Account is the appid of the official account the push was addressed
	// to. It is not in the XML: the intake sets it from the callback URL.
	Account string `json:"account,omitempty"`

	ToUserName string  `json:"to_user"`     // the account's original id, gh_…
	OpenID     string  `json:"openid"`      // FromUserName: the user (or mphelper for mass-send results)
	CreateTime int64   `json:"create_time"` // Unix seconds
	Type       MsgType `json:"type"`

	// MsgID is MsgId of ordinary messages, or MsgID of the job-finish
	// events. A string: the values exceed 2^53.
	MsgID     string `json:"msg_id,omitempty"`
	MsgDataID string `json:"msg_data_id,omitempty"` // set when the message comes from an article
	Idx       string `json:"idx,omitempty"`

	// text; BizMsgMenuID is set when the text is a click on a msgmenu item.
	Content      string `json:"content,omitempty"`
	BizMsgMenuID string `json:"bizmsgmenuid,omitempty"`

	// image, voice, video, shortvideo
	PicURL       string `json:"pic_url,omitempty"`
	MediaID      string `json:"media_id,omitempty"`
	MediaID16K   string `json:"media_id_16k,omitempty"`
	Format       string `json:"format,omitempty"`
	Recognition  string `json:"recognition,omitempty"` // speech recognition; often empty, being retired
	ThumbMediaID string `json:"thumb_media_id,omitempty"`

	// location message (Location_X, Location_Y, Scale, Label) and the
	// location_select event (SendLocationInfo, which adds Poiname).
	Location *Location `json:"location,omitempty"`

	// link
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url,omitempty"`

	// miniprogrampage: the mini program's appid, the page and its cover
	// (ThumbUrl; ThumbMediaId above).
	AppID    string `json:"app_id,omitempty"`
	PagePath string `json:"page_path,omitempty"`
	ThumbURL string `json:"thumb_url,omitempty"`

	// file (Title and Description above)
	FileKey      string `json:"file_key,omitempty"`
	FileMD5      string `json:"file_md5,omitempty"`
	FileTotalLen int64  `json:"file_total_len,omitempty"`

	// events
	Event    EventType `json:"event,omitempty"`
	EventKey string    `json:"event_key,omitempty"` // subscribe via QR: "qrscene_" + scene; SCAN: the scene
	Ticket   string    `json:"ticket,omitempty"`
	MenuID   string    `json:"menu_id,omitempty"`

	// LOCATION event (periodic report)
	Latitude  float64 `json:"latitude,omitempty"`
	Longitude float64 `json:"longitude,omitempty"`
	Precision float64 `json:"precision,omitempty"`

	// kf_create_session, kf_close_session (KfAccount), kf_switch_session
	KfAccount     string `json:"kf_account,omitempty"`
	FromKfAccount string `json:"from_kf_account,omitempty"`
	ToKfAccount   string `json:"to_kf_account,omitempty"`

	// TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH
	Status      string `json:"status,omitempty"`
	TotalCount  int64  `json:"total_count,omitempty"`
	FilterCount int64  `json:"filter_count,omitempty"`
	SentCount   int64  `json:"sent_count,omitempty"`
	ErrorCount  int64  `json:"error_count,omitempty"`

	ScanCodeInfo  *ScanCodeInfo  `json:"scan_code_info,omitempty"` // scancode_push, scancode_waitmsg
	SendPicsInfo  *SendPicsInfo  `json:"send_pics_info,omitempty"` // pic_sysphoto, pic_photo_or_album, pic_weixin
	Subscriptions []Subscription `json:"subscriptions,omitempty"`  // subscribe_msg_*_event

	// Extra holds every element the fields above do not, keyed by its path
	// below <xml> ("SessionFrom", "PublishEventInfo/publish_id"). Repeated
	// elements keep the last value; Raw has them all.
	Extra map[string]string `json:"extra,omitempty"`

	// Raw is the message's XML as WeChat sent it (decrypted in safe mode).
	Raw []byte `json:"-"`
}

// Location is a place a user sent or picked.
type Location struct {
	Latitude  float64 `json:"latitude"`  // Location_X
	Longitude float64 `json:"longitude"` // Location_Y
	Scale     int     `json:"scale"`
	Label     string  `json:"label,omitempty"`
	Poiname   string  `json:"poiname,omitempty"`
}

// ScanCodeInfo is what a scancode_* menu button scanned.
type ScanCodeInfo struct {
	ScanType   string `json:"scan_type"`
	ScanResult string `json:"scan_result"`
}

// SendPicsInfo lists the pictures a pic_* menu button sent.
type SendPicsInfo struct {
	Count   int      `json:"count"`
	PicMD5s []string `json:"pic_md5s,omitempty"`
}

// Subscription is one item of a subscribe_msg_*_event's List.
type Subscription struct {
	TemplateID            string `json:"template_id"`
	SubscribeStatusString string `json:"subscribe_status,omitempty"`
	PopupScene            string `json:"popup_scene,omitempty"`
	MsgID                 string `json:"msg_id,omitempty"`
	ErrorCode             string `json:"error_code,omitempty"`
	ErrorStatus           string `json:"error_status,omitempty"`
}

// IsEvent reports whether m is an event rather than a user's message.
func (m *Message) IsEvent() bool { return m.Type == MsgEvent }
