// Package sim is kfgate's stand-in for WeChat, which a test cannot reach:
// simulated users who post signed (and, in safe mode, encrypted) callbacks
// to a kfgate exactly as WeChat's servers do, a load generator built on
// them, and API, a fake of WeChat's server API (access tokens, custom/send
// with its 48-hour window and quotas, typing, kf accounts and sessions)
// that kfgate calls back.
package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kfgate/kfgate/internal/wxcrypto"
)

// Account is the official account the simulated users write to.
type Account struct {
	AppID  string
	Token  string
	AESKey string // empty: plaintext mode
	GhID   string // the account's original id, ToUserName of every push
}

// Poster builds and posts callbacks for one account, the way WeChat does:
// URL signature always; in safe mode encrypt_type=aes, msg_signature and an
// envelope holding only ToUserName and Encrypt.
type Poster struct {
	acct   Account
	base   string // http://host:port
	cipher *wxcrypto.Cipher
	safe   bool
	client *http.Client
	now    func() time.Time
}

// NewPoster returns a Poster to the kfgate at base. safe selects safe mode,
// which needs the account's AESKey.
func NewPoster(base string, acct Account, safe bool, client *http.Client) (*Poster, error) {
	p := &Poster{acct: acct, base: strings.TrimRight(base, "/"), safe: safe, client: client, now: time.Now}
	if acct.GhID == "" {
		p.acct.GhID = "gh_" + acct.AppID
	}
	if safe {
		c, err := wxcrypto.NewCipher(acct.AppID, acct.AESKey)
		if err != nil {
			return nil, fmt.Errorf("safe mode: %w", err)
		}
		p.cipher = c
	}
	if client == nil {
		p.client = http.DefaultClient
	}
	return p, nil
}

// Prepared is a callback ready to post: its URL and body.
type Prepared struct {
	URL   string
	Body  []byte
	MsgID int64 // of the text message inside, when Prepare was given one by the load run
}

// Prepare signs (and encrypts) the push msg as WeChat would at time now.
func (p *Poster) Prepare(msg []byte) Prepared {
	ts := strconv.FormatInt(p.now().Unix(), 10)
	// WeChat's nonce is a random number. kfgate refuses a (timestamp,
	// nonce) pair seen with another body, so simulated users posting in
	// the same second must not share one: 64 random bits.
	nonce := strconv.FormatUint(rand.Uint64(), 10)
	q := url.Values{}
	q.Set("signature", wxcrypto.Signature(p.acct.Token, ts, nonce))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	body := msg
	if p.safe {
		enc := p.cipher.Encrypt(msg)
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", wxcrypto.Signature(p.acct.Token, ts, nonce, enc))
		body = []byte("<xml><ToUserName><![CDATA[" + p.acct.GhID + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
	}
	return Prepared{URL: p.base + "/wechat/" + p.acct.AppID + "?" + q.Encode(), Body: body}
}

// Post sends a prepared callback and returns the status and the body.
func (p *Poster) Post(ctx context.Context, pr Prepared) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pr.URL, bytes.NewReader(pr.Body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// DecryptReply opens a passive reply that kfgate encrypted, checking its
// signature, as WeChat does; a plain reply is returned as it is.
func (p *Poster) DecryptReply(body []byte) ([]byte, error) {
	if !p.safe || !bytes.Contains(body, []byte("<Encrypt>")) {
		return body, nil
	}
	field := func(name string) string {
		s := string(body)
		i := strings.Index(s, "<"+name+">")
		j := strings.Index(s, "</"+name+">")
		if i < 0 || j < i {
			return ""
		}
		v := s[i+len(name)+2 : j]
		v = strings.TrimPrefix(v, "<![CDATA[")
		return strings.TrimSuffix(v, "]]>")
	}
	enc := field("Encrypt")
	if !wxcrypto.Verify(field("MsgSignature"), p.acct.Token, field("TimeStamp"), field("Nonce"), enc) {
		return nil, fmt.Errorf("reply's MsgSignature does not match")
	}
	return p.cipher.Decrypt(enc)
}

// TextXML is the push of a text message from openid, as WeChat sends it.
func TextXML(ghID, openid string, createTime int64, content string, msgID int64) []byte {
	return fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"+
		"<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content>"+
		"<MsgId>%d</MsgId></xml>", ghID, openid, createTime, strings.ReplaceAll(content, "]]>", "]]]]><![CDATA[>"), msgID)
}
