package wxapi

import (
	"context"
	"errors"
)

// MsgType is the msgtype of a customer-service message (docs/wechat.md, "Customer-service API").
type MsgType string

// The message types of message/custom/send.
const (
	MsgText            MsgType = "text"
	MsgImage           MsgType = "image"
	MsgVoice           MsgType = "voice"
	MsgVideo           MsgType = "video"
	MsgMusic           MsgType = "music"
	MsgNews            MsgType = "news"
	MsgMPNews          MsgType = "mpnews"
	MsgMPNewsArticle   MsgType = "mpnewsarticle"
	MsgMsgMenu         MsgType = "msgmenu"
	MsgWxCard          MsgType = "wxcard"
	MsgMiniProgramPage MsgType = "miniprogrampage"
)

// CustomMessage is the body of message/custom/send: ToUser, MsgType and the
// one field of that type. The JSON follows docs/wechat.md, "Customer-service API" and silenceper's
// message.CustomerMessage, plus customservice.
type CustomMessage struct {
	ToUser          string           `json:"touser"`
	MsgType         MsgType          `json:"msgtype"`
	Text            *Text            `json:"text,omitempty"`
	Image           *MediaRef        `json:"image,omitempty"`
	Voice           *MediaRef        `json:"voice,omitempty"`
	Video           *Video           `json:"video,omitempty"`
	Music           *Music           `json:"music,omitempty"`
	News            *News            `json:"news,omitempty"`
	MPNews          *MediaRef        `json:"mpnews,omitempty"`
	MPNewsArticle   *MPNewsArticle   `json:"mpnewsarticle,omitempty"`
	MsgMenu         *MsgMenu         `json:"msgmenu,omitempty"`
	WxCard          *WxCard          `json:"wxcard,omitempty"`
	MiniProgramPage *MiniProgramPage `json:"miniprogrampage,omitempty"`
	// CustomService, if set, sends the message as that kf account (its
	// avatar and nickname).
	CustomService *CustomService `json:"customservice,omitempty"`
}

// Text is a text message; Content may hold line breaks and
// <a href data-miniprogram-appid data-miniprogram-path> links.
type Text struct {
	Content string `json:"content"`
}

// MediaRef names uploaded media (image, voice) or an mpnews article.
type MediaRef struct {
	MediaID string `json:"media_id"`
}

// Video is a video message.
type Video struct {
	MediaID      string `json:"media_id"`
	ThumbMediaID string `json:"thumb_media_id"`
	Title        string `json:"title,omitempty"`
	Description  string `json:"description,omitempty"`
}

// Music is a music message.
type Music struct {
	Title        string `json:"title,omitempty"`
	Description  string `json:"description,omitempty"`
	MusicURL     string `json:"musicurl"`
	HQMusicURL   string `json:"hqmusicurl"`
	ThumbMediaID string `json:"thumb_media_id"`
}

// News is a link-card message: one article (more → 45008).
type News struct {
	Articles []Article `json:"articles"`
}

// Article is one news article.
type Article struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url"`
	PicURL      string `json:"picurl,omitempty"`
}

// MPNewsArticle is a published article by its article_id.
type MPNewsArticle struct {
	ArticleID string `json:"article_id"`
}

// MsgMenu is a message with choices; a click comes back as a text message
// with bizmsgmenuid. Use numeric ids (docs/wechat.md, "Messages and events").
type MsgMenu struct {
	HeadContent string     `json:"head_content,omitempty"`
	List        []MenuItem `json:"list"`
	TailContent string     `json:"tail_content,omitempty"`
}

// MenuItem is one choice of a MsgMenu.
type MenuItem struct {
	ID      string `json:"id"`
	Content string `json:"content"`
}

// WxCard is a card-coupon message.
type WxCard struct {
	CardID string `json:"card_id"`
}

// MiniProgramPage is a mini-program card.
type MiniProgramPage struct {
	Title        string `json:"title"`
	AppID        string `json:"appid"`
	PagePath     string `json:"pagepath"`
	ThumbMediaID string `json:"thumb_media_id"`
}

// CustomService names the kf account a message is sent as.
type CustomService struct {
	KfAccount string `json:"kf_account"`
}

// TextMessage returns a text message to openid.
func TextMessage(openid, content string) CustomMessage {
	return CustomMessage{ToUser: openid, MsgType: MsgText, Text: &Text{Content: content}}
}

// ImageMessage returns an image message to openid of uploaded media.
func ImageMessage(openid, mediaID string) CustomMessage {
	return CustomMessage{ToUser: openid, MsgType: MsgImage, Image: &MediaRef{MediaID: mediaID}}
}

// SendCustom sends msg with message/custom/send (docs/wechat.md, "Customer-service API"). WeChat accepts it
// only inside the user's window and quota: 45015 (no window or
// unsubscribed), 45047 (quota used up) and 43004 come back as Permanent
// errors.
func (c *Client) SendCustom(ctx context.Context, appid string, msg CustomMessage) error {
	if msg.ToUser == "" || msg.MsgType == "" {
		return errors.New("wxapi message/custom/send: touser and msgtype are required")
	}
	return c.postJSON(ctx, appid, "/cgi-bin/message/custom/send", msg, nil)
}

// Typing shows (on) or hides the "typing…" state to openid with
// message/custom/typing (docs/wechat.md, "Customer-service API"). Showing it needs an exchange with the user
// in the last 30 s (45080) and fails while it is shown, for 15 s (45081).
func (c *Client) Typing(ctx context.Context, appid, openid string, on bool) error {
	cmd := "CancelTyping"
	if on {
		cmd = "Typing"
	}
	return c.postJSON(ctx, appid, "/cgi-bin/message/custom/typing", struct {
		ToUser  string `json:"touser"`
		Command string `json:"command"`
	}{openid, cmd}, nil)
}
