// Package callback serves an official account's server URL,
// /wechat/{appid}: WeChat's URL verification (GET) and its pushes (POST) in
// plaintext, compatible and safe mode. A push is verified, decrypted,
// decoded, handed to the intake (dedup and a durable record), and answered
// with "success" or the passive reply due — well inside WeChat's 5 seconds,
// after which WeChat would drop the connection and deliver again.
//
// A push is accepted only in the mode configured for its account, with a
// timestamp within the allowed clock skew, and with a (timestamp, nonce)
// pair not seen before with another body: in plaintext mode the signature
// covers no part of the body, so without these checks anyone who once saw
// a callback URL could post any message as any user, for ever
// (docs/wechat.md, "Signatures" and "Modes").
package callback

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/kfgate/kfgate/internal/intake"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/wxcrypto"
	"github.com/kfgate/kfgate/internal/wxmsg"
)

// MaxBody is the largest callback body accepted. WeChat's pushes are a few
// hundred bytes, three times that in compatible mode.
const MaxBody = 64 << 10

// Results of a callback, the values of the "result" metric label besides
// the error codes.
const (
	ResultOK        = "ok"        // a new message, recorded and answered
	ResultDuplicate = "duplicate" // a retry of one already recorded, given the same answer
	ResultVerified  = "verified"  // a URL verification answered with echostr
)

// Recorder durably records an accepted delivery, once across retries.
type Recorder interface {
	Record(ctx context.Context, d intake.Delivery) (intake.Result, error)
}

var _ Recorder = (*intake.Store)(nil)

// Mode is an account's message encryption mode (消息加解密方式), as set in
// WeChat's console: which pushes the account accepts.
type Mode string

// The modes. In safe and compatible mode WeChat adds encrypt_type=aes and
// msg_signature, which covers the encrypted body; in plaintext mode only
// the URL's signature, which does not.
const (
	ModeSafe       Mode = "safe"       // encrypted pushes only
	ModeCompatible Mode = "compatible" // encrypted or plaintext (while an account switches)
	ModePlaintext  Mode = "plaintext"  // plaintext pushes only
)

// Account is an official account as the callback endpoint needs it.
type Account struct {
	AppID  string
	Token  string
	Cipher *wxcrypto.Cipher // nil when no EncodingAESKey is configured: plaintext mode only
	// Mode decides the pushes accepted; empty: safe with a Cipher,
	// plaintext without.
	Mode Mode
	// TransferToKf answers user messages with transfer_customer_service.
	TransferToKf bool
	// KfFor, if set, names the kf account the reply designates
	// (TransInfo/KfAccount) for a user: the one kfgate's routing gave the
	// user's session, "" for none (WeChat's own queue then decides).
	KfFor func(ctx context.Context, openid string) string
}

// Options tune a Handler.
type Options struct {
	// Timeout bounds the work for one callback, Redis included. Default 3s.
	Timeout time.Duration
	// MaxClockSkew is how far a push's timestamp may be from now, either
	// way. Default 5m.
	MaxClockSkew time.Duration
	// Now is the clock; default time.Now. Tests of recorded vectors set it
	// to the vector's time.
	Now func() time.Time
}

// Handler serves the callbacks of a fixed set of accounts.
type Handler struct {
	accounts map[string]*Account
	rec      Recorder
	timeout  time.Duration
	skew     time.Duration
	now      func() time.Time
	bufs     sync.Pool
	// decode is wxmsg.Decode; the benchmarks swap in encoding/xml to
	// measure what the hand-written decoder saves inside a whole callback.
	decode func([]byte) (kf.Message, error)
}

// New returns a Handler for accounts that records through rec.
func New(accounts []Account, rec Recorder, opts Options) *Handler {
	h := &Handler{accounts: make(map[string]*Account, len(accounts)), rec: rec,
		timeout: cmpOr(opts.Timeout, 3*time.Second), skew: cmpOr(opts.MaxClockSkew, 5*time.Minute), now: opts.Now,
		decode: wxmsg.Decode}
	if h.now == nil {
		h.now = time.Now
	}
	for i := range accounts {
		a := accounts[i]
		if a.Mode == "" {
			a.Mode = ModePlaintext
			if a.Cipher != nil {
				a.Mode = ModeSafe
			}
		}
		h.accounts[a.AppID] = &a
	}
	h.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	return h
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Known reports whether appid is a configured account.
func (h *Handler) Known(appid string) bool { _, ok := h.accounts[appid]; return ok }

// Serve handles one request to /wechat/{appid}. When it returns a nil error
// it has written the response and returns the result label; otherwise it has
// written nothing and the error (a *kf.Error for a client's mistake) is for
// the caller to turn into a response.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, appid string) (string, error) {
	acct, ok := h.accounts[appid]
	if !ok {
		return "", kf.Errorf(kf.KindNotFound, "unknown_account", "no account with appid %q", truncate(appid))
	}
	switch r.Method {
	case http.MethodGet:
		return h.verifyURL(w, r, acct)
	case http.MethodPost:
		return h.push(w, r, acct)
	default:
		w.Header().Set("Allow", "GET, POST")
		return "", kf.Errorf(kf.KindMethod, "method_not_allowed", "method %s not allowed; WeChat uses GET and POST", r.Method)
	}
}

// verifyURL answers the check WeChat makes when the server URL is saved:
// echostr, verbatim, if the signature holds (docs/wechat.md, "URL verification"). For official
// accounts echostr is plaintext even in safe mode.
func (h *Handler) verifyURL(w http.ResponseWriter, r *http.Request, acct *Account) (string, error) {
	q := r.URL.Query()
	if err := checkSignature(q.Get("signature"), acct.Token, q.Get("timestamp"), q.Get("nonce")); err != nil {
		return "", err
	}
	echostr := q.Get("echostr")
	if echostr == "" {
		return "", kf.Errorf(kf.KindInvalid, "missing_echostr", "missing echostr")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, echostr)
	return ResultVerified, nil
}

func (h *Handler) push(w http.ResponseWriter, r *http.Request, acct *Account) (string, error) {
	q := r.URL.Query()
	timestamp, nonce := q.Get("timestamp"), q.Get("nonce")
	var encrypted bool
	switch et := q.Get("encrypt_type"); et {
	case "", "raw":
	case "aes":
		encrypted = true
	default:
		return "", kf.Errorf(kf.KindInvalid, "bad_encrypt_type", "unsupported encrypt_type %q", truncate(et))
	}
	switch {
	case encrypted && acct.Mode == ModePlaintext:
		return "", kf.Errorf(kf.KindForbidden, "mode_refused", "the account takes plaintext callbacks only (mode plaintext)")
	case !encrypted && acct.Mode == ModeSafe:
		return "", kf.Errorf(kf.KindForbidden, "mode_refused", "the account takes encrypted callbacks only (mode safe, encrypt_type=aes)")
	}
	if !encrypted {
		// In plaintext mode the signature covers no part of the body, so it
		// is checked before reading; the body is bound to the timestamp
		// and nonce by the intake (Pair below).
		if err := checkSignature(q.Get("signature"), acct.Token, timestamp, nonce); err != nil {
			return "", err
		}
	}

	bufp := h.bufs.Get().(*[]byte)
	defer h.bufs.Put(bufp)
	body, err := readBody(w, r, (*bufp)[:0])
	*bufp = body[:0]
	if err != nil {
		return "", err
	}

	raw := body
	if encrypted {
		if raw, err = h.decrypt(acct, q.Get("msg_signature"), q.Get("signature"), timestamp, nonce, body); err != nil {
			return "", err
		}
	}
	// The signatures hold: the timestamp is WeChat's. One too far from now
	// is a replay of an old callback.
	pairTTL, err := h.checkTimestamp(timestamp)
	if err != nil {
		return "", err
	}
	// The text rule (kf.SafeText): WeChat is the sender, and refusing
	// would lose a real user's message (WeChat retries the same bytes,
	// then gives up), so invalid UTF-8, a NUL or another control character
	// becomes U+FFFD here, before anything records it.
	if !kf.CleanBytes(raw) {
		raw = []byte(kf.SafeText(string(raw)))
	}
	m, err := h.decode(raw)
	if err != nil {
		return "", err
	}
	if !reOpenID.MatchString(m.OpenID) {
		return "", kf.Errorf(kf.KindInvalid, "bad_openid", "FromUserName must be 1 to 64 letters, digits, '_' or '-'")
	}
	m.Account = acct.AppID
	// The intake records the decoded message, not its XML; raw may alias
	// the pooled buffer, so the Message must not keep it.
	m.Raw = nil

	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	// The (timestamp, nonce) pair and the body's hash: a retry of WeChat's
	// repeats both, a replay with another body only the pair.
	sum := sha256.Sum256(body)
	res, err := h.rec.Record(ctx, intake.Delivery{Message: &m, Answer: h.answer(ctx, acct, &m),
		Pair: timestamp + ":" + nonce, BodyHash: sum[:16], PairTTL: pairTTL})
	if err != nil {
		return "", err
	}
	h.writeAnswer(w, acct, encrypted, nonce, res.Answer)
	if res.Duplicate {
		return ResultDuplicate, nil
	}
	return ResultOK, nil
}

// decrypt checks a safe- or compatible-mode push and returns the message
// inside. msg_signature covers the token, timestamp, nonce and the Encrypt
// text, so it is required; the URL signature is checked too when present.
func (h *Handler) decrypt(acct *Account, msgSig, sig, timestamp, nonce string, body []byte) ([]byte, error) {
	if acct.Cipher == nil {
		return nil, kf.Errorf(kf.KindInvalid, "no_aes_key", "encrypted callback, but the account has no aes_key configured")
	}
	if msgSig == "" {
		return nil, kf.Errorf(kf.KindForbidden, "bad_signature", "missing msg_signature")
	}
	if sig != "" {
		if err := checkSignature(sig, acct.Token, timestamp, nonce); err != nil {
			return nil, err
		}
	}
	_, encrypt, err := wxmsg.Envelope(body)
	if err != nil {
		return nil, err
	}
	if !wxcrypto.Verify(msgSig, acct.Token, timestamp, nonce, encrypt) {
		return nil, kf.Errorf(kf.KindForbidden, "bad_signature", "msg_signature does not match")
	}
	return acct.Cipher.Decrypt(encrypt)
}

// answer decides the reply to a new delivery: empty for "success", or the
// plaintext XML of a passive reply. Only user messages are transferred to
// WeChat's customer-service system; events never are (docs/wechat.md,
// "Passive replies").
func (h *Handler) answer(ctx context.Context, acct *Account, m *kf.Message) []byte {
	if acct.TransferToKf && !m.IsEvent() {
		kfAccount := ""
		if acct.KfFor != nil {
			kfAccount = acct.KfFor(ctx, m.OpenID)
		}
		return wxmsg.AppendTransferReply(nil, m.OpenID, m.ToUserName, h.now().Unix(), kfAccount)
	}
	return nil
}

// writeAnswer writes "success" for an empty answer — never encrypted, as
// WeChat asks (docs/wechat.md, "Passive replies") — and otherwise the passive reply, wrapped in
// an encrypted envelope when the push came encrypted.
func (h *Handler) writeAnswer(w http.ResponseWriter, acct *Account, encrypted bool, nonce string, answer []byte) {
	if len(answer) == 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "success")
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	if !encrypted || acct.Cipher == nil {
		_, _ = w.Write(answer)
		return
	}
	enc := acct.Cipher.Encrypt(answer)
	ts := h.now().Unix()
	sig := wxcrypto.Signature(acct.Token, strconv.FormatInt(ts, 10), nonce, enc)
	_, _ = w.Write(wxmsg.AppendEncryptedReply(nil, enc, sig, ts, nonce))
}

// checkTimestamp refuses a push whose timestamp is more than the allowed
// skew away from now, and returns how long its (timestamp, nonce) pair must
// be remembered: until the timestamp leaves the window.
func (h *Handler) checkTimestamp(timestamp string) (time.Duration, error) {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return 0, kf.Errorf(kf.KindForbidden, "stale_timestamp", "timestamp %q is not a Unix time", truncate(timestamp))
	}
	now := h.now()
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > h.skew || d < -h.skew {
		return 0, kf.Errorf(kf.KindForbidden, "stale_timestamp", "timestamp %d is more than %s from now", ts, h.skew)
	}
	return at.Add(h.skew).Sub(now) + time.Second, nil
}

func checkSignature(sig, token, timestamp, nonce string) error {
	if sig == "" {
		return kf.Errorf(kf.KindForbidden, "bad_signature", "missing signature")
	}
	if !wxcrypto.Verify(sig, token, timestamp, nonce) {
		return kf.Errorf(kf.KindForbidden, "bad_signature", "signature does not match")
	}
	return nil
}

// readBody reads the request body into buf, refusing more than MaxBody.
func readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, error) {
	tooLarge := kf.Errorf(kf.KindTooLarge, "too_large", "body over %d KiB", MaxBody>>10)
	if r.ContentLength > MaxBody {
		return buf, tooLarge
	}
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return buf, tooLarge
			}
			return buf, kf.Wrap(kf.KindInvalid, "bad_body", err, "cannot read the body")
		}
	}
	if len(buf) == 0 {
		return buf, kf.Errorf(kf.KindInvalid, "malformed_xml", "empty body")
	}
	return buf, nil
}

// reOpenID is what an openid is made of: WeChat's are 28 characters of
// base64url; 64 leaves room without letting a callback fill Redis keys.
var reOpenID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// truncate keeps a client's string short enough for an error line.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
