package sim

import (
	"bytes"
	"encoding/json"
	"time"
)

// maxTextBytes is the longest text.content custom/send accepts; longer →
// 45002 "content size out of limit" (docs/wechat.md, "Error codes"). WeChat publishes no number for it:
// 2048 bytes is the simulator's choice.
const maxTextBytes = 2048

// sendRequest is a custom/send body (docs/wechat.md, "Customer-service API").
type sendRequest struct {
	ToUser  string `json:"touser"`
	MsgType string `json:"msgtype"`
	Text    *struct {
		Content string `json:"content"`
	} `json:"text"`
	Image *mediaRef `json:"image"`
	Voice *mediaRef `json:"voice"`
	Video *struct {
		MediaID      string `json:"media_id"`
		ThumbMediaID string `json:"thumb_media_id"`
		Title        string `json:"title"`
		Description  string `json:"description"`
	} `json:"video"`
	Music *struct {
		Title        string `json:"title"`
		Description  string `json:"description"`
		MusicURL     string `json:"musicurl"`
		HQMusicURL   string `json:"hqmusicurl"`
		ThumbMediaID string `json:"thumb_media_id"`
	} `json:"music"`
	News *struct {
		Articles []struct {
			Title       string `json:"title"`
			Description string `json:"description"`
			URL         string `json:"url"`
			PicURL      string `json:"picurl"`
		} `json:"articles"`
	} `json:"news"`
	MPNews        *mediaRef `json:"mpnews"`
	MPNewsArticle *struct {
		ArticleID string `json:"article_id"`
	} `json:"mpnewsarticle"`
	MsgMenu *struct {
		HeadContent string `json:"head_content"`
		List        []struct {
			ID      string `json:"id"`
			Content string `json:"content"`
		} `json:"list"`
		TailContent string `json:"tail_content"`
	} `json:"msgmenu"`
	WxCard *struct {
		CardID string `json:"card_id"`
	} `json:"wxcard"`
	MiniProgramPage *struct {
		Title        string `json:"title"`
		AppID        string `json:"appid"`
		PagePath     string `json:"pagepath"`
		ThumbMediaID string `json:"thumb_media_id"`
	} `json:"miniprogrampage"`
	CustomService *struct {
		KfAccount string `json:"kf_account"`
	} `json:"customservice"`
}

type mediaRef struct {
	MediaID string `json:"media_id"`
}

// customSend serves POST /cgi-bin/message/custom/send (docs/wechat.md, "Customer-service API"). The checks, in
// order (WeChat documents no order; this one is the simulator's):
//
//  1. the account's daily quota, or the DailyQuotaExhausted fault → 45009
//     (docs/wechat.md, "API quotas"; every call with a valid token counts, as WeChat counts calls);
//  2. the body: empty 44002, \uXXXX 40033, not JSON 47001;
//  3. the message: unknown msgtype 40008, then per type — text empty 44004 or
//     over maxTextBytes 45002; news without articles 44003, more than one
//     45008; image/voice/video media_id not uploaded to this account with
//     media/upload in the last 3 days (or of another type) 40007; other
//     missing required fields 47001;
//  4. the user: never seen by the account 40003 (also another account's
//     openid), unsubscribed APIOptions.UnsubscribedCode (43004);
//  5. customservice.kf_account, if given, not an account's kf → 65401;
//  6. the window: none open 45015, open but its count used up 45047.
//
// A message that passes is recorded for Received and getmsglist, cancels the
// typing state (docs/wechat.md, "Customer-service API") and counts as an exchange with the user.
func (a *API) customSend(c *call) any {
	acct := c.acct
	if a.faults.DailyQuotaExhausted || acct.overQuota(pathSend, a.opts.DailySendQuota, c.now) {
		return errf(45009)
	}
	var req sendRequest
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	if e := acct.checkMessage(&req, c.now); e != nil {
		return e
	}
	u := acct.users[req.ToUser]
	if u == nil {
		return errf(40003)
	}
	if !u.subscribed {
		return errf(a.opts.UnsubscribedCode)
	}
	kf := ""
	if req.CustomService != nil && req.CustomService.KfAccount != "" {
		kf = req.CustomService.KfAccount
		if acct.kf(kf) == nil {
			return errf(65401)
		}
	}
	if e := u.take(c.now); e != nil {
		return e
	}

	var body bytes.Buffer
	_ = json.Compact(&body, c.body) // it parsed, so it compacts
	if len(u.received) >= maxReceivedKept {
		u.received = u.received[1:]
	}
	u.received = append(u.received, Received{MsgType: req.MsgType, Body: body.Bytes(), Time: c.now, KfAccount: kf})
	u.typingUntil = time.Time{}
	u.lastExchange = c.now
	acct.record(req.ToUser, recordText(&req), kf, c.now)
	return okBody
}

// checkMessage validates the message of a custom/send body (step 3 above).
func (acct *account) checkMessage(req *sendRequest, now time.Time) *wxError {
	need := func(ok bool) *wxError {
		if ok {
			return nil
		}
		return errf(47001)
	}
	switch req.MsgType {
	case "text":
		switch {
		case req.Text == nil || req.Text.Content == "":
			return errf(44004)
		case len(req.Text.Content) > maxTextBytes:
			return errf(45002)
		}
		return nil
	case "image":
		return acct.checkMedia(req.Image, "image", now)
	case "voice":
		return acct.checkMedia(req.Voice, "voice", now)
	case "video":
		if req.Video == nil {
			return errf(40007)
		}
		return acct.checkMedia(&mediaRef{MediaID: req.Video.MediaID}, "video", now)
	case "music":
		return need(req.Music != nil && req.Music.MusicURL != "" && req.Music.ThumbMediaID != "")
	case "news":
		switch {
		case req.News == nil || len(req.News.Articles) == 0:
			return errf(44003)
		case len(req.News.Articles) > 1:
			return errf(45008) // "1 item max" (docs/wechat.md, "Customer-service API")
		}
		return nil
	case "mpnews":
		// A permanent material the simulator does not hold: only present.
		if req.MPNews == nil || req.MPNews.MediaID == "" {
			return errf(40007)
		}
		return nil
	case "mpnewsarticle":
		return need(req.MPNewsArticle != nil && req.MPNewsArticle.ArticleID != "")
	case "msgmenu":
		if req.MsgMenu == nil || len(req.MsgMenu.List) == 0 {
			return errf(47001)
		}
		for _, it := range req.MsgMenu.List {
			if it.ID == "" || it.Content == "" {
				return errf(47001)
			}
		}
		return nil
	case "wxcard":
		return need(req.WxCard != nil && req.WxCard.CardID != "")
	case "miniprogrampage":
		p := req.MiniProgramPage
		if p == nil || p.AppID == "" || p.PagePath == "" {
			return errf(47001)
		}
		if p.ThumbMediaID == "" {
			return errf(40007)
		}
		return nil
	}
	return errf(40008)
}

// checkMedia checks that ref names media of typ uploaded to acct with
// media/upload less than 3 days ago; else 40007 "invalid media_id".
func (acct *account) checkMedia(ref *mediaRef, typ string, now time.Time) *wxError {
	if ref == nil || ref.MediaID == "" {
		return errf(40007)
	}
	m, ok := acct.media[ref.MediaID]
	if !ok || m.typ != typ || !now.Before(m.created.Add(temporaryMedia)) {
		return errf(40007)
	}
	return nil
}

// recordText is the text of a sent message in the chat records: the text, or
// "[image]", "[voice]", "[video]" (docs/wechat.md, "Customer-service API"), or "[msgtype]" for the others.
func recordText(req *sendRequest) string {
	if req.MsgType == "text" {
		return req.Text.Content
	}
	return "[" + req.MsgType + "]"
}

// typing serves POST /cgi-bin/message/custom/typing (docs/wechat.md, "Customer-service API"): a bad command →
// 45072; an unknown user 40003; unsubscribed APIOptions.UnsubscribedCode; no
// window open 45015 ("needs a valid send window", whatever its count); then,
// for Typing only, no exchange with the user (their interaction or a
// successful send) in the last 30 s → 45080, still typing (15 s) → 45081.
// CancelTyping of a user who is not being typed to succeeds.
func (a *API) typing(c *call) any {
	var req struct {
		ToUser  string `json:"touser"`
		Command string `json:"command"`
	}
	if e := decodeJSON(c.body, &req); e != nil {
		return e
	}
	if req.Command != "Typing" && req.Command != "CancelTyping" {
		return errf(45072)
	}
	u := c.acct.users[req.ToUser]
	switch {
	case u == nil:
		return errf(40003)
	case !u.subscribed:
		return errf(a.opts.UnsubscribedCode)
	case !u.anyOpen(c.now):
		return errf(45015)
	}
	if req.Command == "CancelTyping" {
		u.typingUntil = time.Time{}
		return okBody
	}
	if !c.now.Before(u.lastExchange.Add(typingExchange)) {
		return errf(45080)
	}
	if c.now.Before(u.typingUntil) {
		return errf(45081)
	}
	u.typingUntil = c.now.Add(typingDuration)
	return okBody
}
