// Package wxmsg reads and writes the XML of a WeChat Official Account's
// server callbacks: Decode turns a pushed message or event into a
// kf.Message, Envelope reads the outer envelope of safe and compatible mode,
// and the Append…Reply functions write passive replies.
//
// Decoding does not use encoding/xml, which costs tens of microseconds and
// dozens of allocations per push; a strict hand-written tokenizer (scan.go)
// reads the document as one string and hands out substrings of it, so a
// text message costs one allocation. It refuses DOCTYPE and ENTITY
// declarations (no external entity can be reached), unknown entities,
// nesting deeper than 16 elements, and anything but one <xml> root; it
// keeps invalid UTF-8 as sent. Every error is a *kf.Error of kind
// kf.KindInvalid and code "malformed_xml" whose message is one line.
package wxmsg

import (
	"math"
	"strconv"
	"strings"

	"github.com/kfgate/kfgate/internal/kf"
)

// Decode decodes a push (the plaintext, after decryption in safe mode) into
// a kf.Message. MsgType, FromUserName and an integer CreateTime are
// required. Elements kf.Message has no field for land in Extra under their
// path below <xml>; so does the text of an optional numeric element that
// does not parse, whose typed field then stays zero. String values are kept
// exactly as sent, surrounding whitespace included; numbers are read with
// the whitespace around them trimmed. Raw is raw itself, not a copy.
func Decode(raw []byte) (kf.Message, error) {
	d := decoder{w: newWalker(string(raw))}
	for {
		ev, path, val, err := d.w.next()
		if err != nil {
			return kf.Message{}, err
		}
		switch ev {
		case evEOF:
			return d.finish(raw)
		case evStart:
			d.start(path)
		case evLeaf:
			d.leaf(path, val)
		}
	}
}

type decoder struct {
	w          walker
	m          kf.Message
	createTime string
	sawTime    bool
}

func (d *decoder) finish(raw []byte) (kf.Message, error) {
	switch {
	case d.m.Type == "":
		return kf.Message{}, malformed("missing MsgType")
	case d.m.OpenID == "":
		return kf.Message{}, malformed("missing FromUserName")
	case !d.sawTime:
		return kf.Message{}, malformed("missing CreateTime")
	}
	t, err := strconv.ParseInt(trimSpace(d.createTime), 10, 64)
	if err != nil {
		return kf.Message{}, malformed("invalid CreateTime")
	}
	d.m.CreateTime = t
	d.m.Raw = raw
	return d.m, nil
}

// start creates the nested values when their element opens, so that an
// empty <ScanCodeInfo/> still shows, and so that each PicList/item and each
// List of a subscription event makes one entry.
func (d *decoder) start(path []string) {
	switch len(path) {
	case 1:
		switch path[0] {
		case "ScanCodeInfo":
			if d.m.ScanCodeInfo == nil {
				d.m.ScanCodeInfo = &kf.ScanCodeInfo{}
			}
		case "SendPicsInfo":
			if d.m.SendPicsInfo == nil {
				d.m.SendPicsInfo = &kf.SendPicsInfo{}
			}
		case "SendLocationInfo":
			d.location()
		}
	case 2:
		if isSubscribeList(path) {
			d.m.Subscriptions = append(d.m.Subscriptions, kf.Subscription{})
		}
	case 3:
		if path[0] == "SendPicsInfo" && path[1] == "PicList" && path[2] == "item" {
			d.m.SendPicsInfo.PicMD5s = append(d.m.SendPicsInfo.PicMD5s, "")
		}
	}
}

// isContainer reports whether start makes something for the element.
func isContainer(path []string) bool {
	switch len(path) {
	case 1:
		switch path[0] {
		case "ScanCodeInfo", "SendPicsInfo", "SendLocationInfo",
			"SubscribeMsgPopupEvent", "SubscribeMsgChangeEvent", "SubscribeMsgSentEvent":
			return true
		}
	case 2:
		return isSubscribeList(path) || path[0] == "SendPicsInfo" && path[1] == "PicList"
	case 3:
		return path[0] == "SendPicsInfo" && path[1] == "PicList" && path[2] == "item"
	}
	return false
}

// The three subscription-message events wrap their items in an element
// named after the event: <SubscribeMsgPopupEvent><List>…</List><List>…
// </List></SubscribeMsgPopupEvent>. One push may carry several items.
func isSubscribeList(path []string) bool {
	switch path[0] {
	case "SubscribeMsgPopupEvent", "SubscribeMsgChangeEvent", "SubscribeMsgSentEvent":
		return path[1] == "List"
	}
	return false
}

func (d *decoder) leaf(path []string, val string) {
	if isContainer(path) && isSpace(val) {
		return // an empty <ScanCodeInfo/>: start made all there is to make
	}
	var ok bool
	switch len(path) {
	case 1:
		ok = d.top(path[0], val)
	case 2:
		ok = d.nested(path[0], path[1], val)
	case 3:
		if isSubscribeList(path) {
			ok = subscription(&d.m.Subscriptions[len(d.m.Subscriptions)-1], path[2], val)
		}
	case 4:
		if path[0] == "SendPicsInfo" && path[1] == "PicList" && path[2] == "item" && path[3] == "PicMd5Sum" {
			pics := d.m.SendPicsInfo.PicMD5s
			pics[len(pics)-1] = val
			ok = true
		}
	}
	if !ok {
		d.extra(path, val)
	}
}

// top maps an element directly below <xml>. It reports false for elements
// it has no field for and for numbers that do not parse.
func (d *decoder) top(name, val string) bool {
	m := &d.m
	switch name {
	case "ToUserName":
		m.ToUserName = val
	case "FromUserName":
		m.OpenID = val
	case "CreateTime":
		d.createTime, d.sawTime = val, true
	case "MsgType":
		m.Type = kf.MsgType(val)
	case "MsgId", "MsgID":
		// Ordinary messages say MsgId; TEMPLATESENDJOBFINISH and
		// MASSSENDJOBFINISH say MsgID. Both are the same kind of id.
		m.MsgID = val
	case "MsgDataId":
		m.MsgDataID = val
	case "Idx":
		m.Idx = val
	case "Content":
		m.Content = val
	case "bizmsgmenuid": // lower case, as WeChat sends it
		m.BizMsgMenuID = val
	case "PicUrl":
		m.PicURL = val
	case "MediaId":
		m.MediaID = val
	case "MediaId16K":
		m.MediaID16K = val
	case "Format":
		m.Format = val
	case "Recognition":
		m.Recognition = val
	case "ThumbMediaId":
		m.ThumbMediaID = val
	case "Title":
		m.Title = val
	case "Description":
		m.Description = val
	case "Url":
		m.URL = val
	case "AppId":
		m.AppID = val
	case "PagePath":
		m.PagePath = val
	case "ThumbUrl":
		m.ThumbURL = val
	case "FileKey":
		m.FileKey = val
	case "FileMd5":
		m.FileMD5 = val
	case "FileTotalLen":
		return parseInt(&m.FileTotalLen, val)
	case "Event":
		m.Event = kf.EventType(val)
	case "EventKey":
		m.EventKey = val
	case "Ticket":
		m.Ticket = val
	case "MenuId":
		m.MenuID = val
	case "KfAccount":
		m.KfAccount = val
	case "FromKfAccount":
		m.FromKfAccount = val
	case "ToKfAccount":
		m.ToKfAccount = val
	case "Status":
		m.Status = val
	case "Location_X", "Location_Y", "Scale", "Label":
		return locationField(d.location(), name, val)
	// The LOCATION event reports Latitude and Longitude by name, unlike
	// the location message.
	case "Latitude":
		return parseFloat(&m.Latitude, val)
	case "Longitude":
		return parseFloat(&m.Longitude, val)
	case "Precision":
		return parseFloat(&m.Precision, val)
	case "TotalCount":
		return parseInt(&m.TotalCount, val)
	case "FilterCount":
		return parseInt(&m.FilterCount, val)
	case "SentCount":
		return parseInt(&m.SentCount, val)
	case "ErrorCount":
		return parseInt(&m.ErrorCount, val)
	default:
		return false
	}
	return true
}

// nested maps an element two levels below <xml>.
func (d *decoder) nested(parent, name, val string) bool {
	switch parent {
	case "ScanCodeInfo":
		switch name {
		case "ScanType":
			d.m.ScanCodeInfo.ScanType = val
			return true
		case "ScanResult":
			d.m.ScanCodeInfo.ScanResult = val
			return true
		}
	case "SendPicsInfo":
		if name == "Count" {
			var n int64
			ok := parseInt(&n, val) && n == int64(int(n))
			if ok {
				d.m.SendPicsInfo.Count = int(n)
			}
			return ok
		}
	case "SendLocationInfo":
		if name == "Poiname" {
			d.m.Location.Poiname = val
			return true
		}
		return locationField(d.m.Location, name, val)
	}
	return false
}

// locationField sets a field of the location message, or of the
// location_select event's SendLocationInfo. Location_X is the latitude and
// Location_Y the longitude, whatever the names suggest.
func locationField(loc *kf.Location, name, val string) bool {
	switch name {
	case "Location_X":
		return parseFloat(&loc.Latitude, val)
	case "Location_Y":
		return parseFloat(&loc.Longitude, val)
	case "Scale":
		var n int64
		ok := parseInt(&n, val) && n == int64(int(n))
		if ok {
			loc.Scale = int(n)
		}
		return ok
	case "Label":
		loc.Label = val
		return true
	}
	return false
}

func (d *decoder) location() *kf.Location {
	if d.m.Location == nil {
		d.m.Location = &kf.Location{}
	}
	return d.m.Location
}

// subscription sets a field of one List item. The popup event's items have
// PopupScene; the sent event's have MsgID (capital D), ErrorCode and
// ErrorStatus; the change event's only TemplateId and the status.
func subscription(s *kf.Subscription, name, val string) bool {
	switch name {
	case "TemplateId":
		s.TemplateID = val
	case "SubscribeStatusString":
		s.SubscribeStatusString = val
	case "PopupScene":
		s.PopupScene = val
	case "MsgID", "MsgId":
		s.MsgID = val
	case "ErrorCode":
		s.ErrorCode = val
	case "ErrorStatus":
		s.ErrorStatus = val
	default:
		return false
	}
	return true
}

func (d *decoder) extra(path []string, val string) {
	if d.m.Extra == nil {
		d.m.Extra = make(map[string]string, 4)
	}
	key := path[0]
	if len(path) > 1 {
		key = strings.Join(path, "/")
	}
	d.m.Extra[key] = val
}

// parseFloat refuses NaN and the infinities, which JSON cannot carry.
func parseFloat(dst *float64, s string) bool {
	f, err := strconv.ParseFloat(trimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return false
	}
	*dst = f
	return true
}

func parseInt(dst *int64, s string) bool {
	n, err := strconv.ParseInt(trimSpace(s), 10, 64)
	if err != nil {
		return false
	}
	*dst = n
	return true
}

func trimSpace(s string) string {
	for len(s) > 0 && isSpaceByte(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpaceByte(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}
