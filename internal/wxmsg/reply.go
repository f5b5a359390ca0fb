package wxmsg

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Passive replies are the HTTP response body of a push (docs/wechat.md, "Passive replies"). The
// builders append to a caller's buffer so that a pooled []byte can carry a
// reply without allocating. Strings go into CDATA sections; any "]]>" in
// them is split across two sections, and characters XML does not allow
// (control characters, invalid UTF-8) become U+FFFD, because WeChat answers
// a reply it cannot parse by showing the user "该公众号暂时无法提供服务".

// AppendTextReply appends a text reply from the account fromUser (its gh_
// id) to the user toUser (an openid). CreateTime is Unix seconds.
//
// WeChat shows the user an error banner for a text reply whose Content is
// empty, so the caller must not send one: for empty content
// AppendTextReply returns dst unchanged, and an empty response body is
// WeChat's documented "no reply".
func AppendTextReply(dst []byte, toUser, fromUser string, createTime int64, content string) []byte {
	if content == "" {
		return dst
	}
	dst = appendReplyHead(dst, toUser, fromUser, createTime, "text")
	dst = append(dst, "<Content>"...)
	dst = appendCDATA(dst, content)
	return append(dst, "</Content></xml>"...)
}

// AppendTransferReply appends a transfer_customer_service reply, which
// hands the user's message to WeChat's own customer-service system (the
// web kf tool), not to kfgate's agents. With kfAccount ("prefix@account")
// WeChat hands the user to that agent and to no other, even when the agent
// is offline or full (docs/wechat.md, "Passive replies"): check the agent is online first.
func AppendTransferReply(dst []byte, toUser, fromUser string, createTime int64, kfAccount string) []byte {
	dst = appendReplyHead(dst, toUser, fromUser, createTime, "transfer_customer_service")
	if kfAccount != "" {
		dst = append(dst, "<TransInfo><KfAccount>"...)
		dst = appendCDATA(dst, kfAccount)
		dst = append(dst, "</KfAccount></TransInfo>"...)
	}
	return append(dst, "</xml>"...)
}

// AppendEncryptedReply appends the safe-mode envelope of a reply
// (docs/wechat.md, "Passive replies") in the layout of Tencent's sample code. encrypt is the
// base64 ciphertext of a plaintext reply; msgSignature must be computed
// over the same timestamp and nonce written here (WeChat's docs suggest the
// current time and the nonce of the request). A bare "success" or an empty
// body needs no envelope.
func AppendEncryptedReply(dst []byte, encrypt, msgSignature string, timestamp int64, nonce string) []byte {
	dst = append(dst, "<xml>\n<Encrypt>"...)
	dst = appendCDATA(dst, encrypt)
	dst = append(dst, "</Encrypt>\n<MsgSignature>"...)
	dst = appendCDATA(dst, msgSignature)
	dst = append(dst, "</MsgSignature>\n<TimeStamp>"...)
	dst = strconv.AppendInt(dst, timestamp, 10)
	dst = append(dst, "</TimeStamp>\n<Nonce>"...)
	dst = appendCDATA(dst, nonce)
	return append(dst, "</Nonce>\n</xml>"...)
}

func appendReplyHead(dst []byte, toUser, fromUser string, createTime int64, msgType string) []byte {
	dst = append(dst, "<xml><ToUserName>"...)
	dst = appendCDATA(dst, toUser)
	dst = append(dst, "</ToUserName><FromUserName>"...)
	dst = appendCDATA(dst, fromUser)
	dst = append(dst, "</FromUserName><CreateTime>"...)
	dst = strconv.AppendInt(dst, createTime, 10)
	dst = append(dst, "</CreateTime><MsgType><![CDATA["...)
	dst = append(dst, msgType...)
	return append(dst, "]]></MsgType>"...)
}

// appendCDATA writes s as one or more CDATA sections. A CDATA section
// cannot contain "]]>", so s = "a]]>b" is written as
// <![CDATA[a]]]]><![CDATA[>b]]>, which a parser reads back as "a]]>b".
func appendCDATA(dst []byte, s string) []byte {
	dst = append(dst, "<![CDATA["...)
	for {
		i := strings.Index(s, "]]>")
		if i < 0 {
			break
		}
		dst = appendXMLChars(dst, s[:i+2])
		dst = append(dst, "]]><![CDATA["...)
		s = s[i+2:]
	}
	dst = appendXMLChars(dst, s)
	return append(dst, "]]>"...)
}

// appendXMLChars appends s with every character XML 1.0 forbids, and every
// byte that is not UTF-8, replaced by U+FFFD.
func appendXMLChars(dst []byte, s string) []byte {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			clean = false
			break
		}
	}
	if clean {
		return append(dst, s...)
	}
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if (r == utf8.RuneError && size == 1) || !isXMLChar(r) {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return dst
}
