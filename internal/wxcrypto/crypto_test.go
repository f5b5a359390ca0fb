package wxcrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kfgate/kfgate/internal/kf"
)

// The vectors of docs/wechat.md, "Test vectors".
const (
	keyAC      = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	appA       = "wxb11529c136998cb6"
	a1Plain    = "我是中文abcd123"
	a1Encrypt  = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
	a1MsgSig   = "82c962d39941aa48552f90ef55aa323dc620cc10"
	a2Plain    = `<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>`
	a2Encrypt  = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"
	a2MsgSig   = "ea88b765074e41eb8c7a75b449db34fa2fd560d5"
	appC       = "wx2c2769f8efd9abc2"
	cEncrypt   = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
	cMsgSig    = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
	cPlainText = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>"
)

var fixedRandom = [16]byte([]byte("aaaabbbbccccdddd"))

func TestSignatureVectors(t *testing.T) {
	tests := []struct {
		name  string
		parts []string
		want  string
	}{
		{"url verification (D-PUSH-MP)", []string{"AAAAA", "1714036504", "1514711492"}, "f464b24fc39322e44b38aa78f5edd27bd1441696"},
		{"java vector url signature", []string{"pamtest", "1409304348", "xxxxxx"}, "76480565cbe296026c53aaacd1ad523a1ddba24f"},
		{"A1 msg_signature", []string{"pamtest", "1409304348", "xxxxxx", a1Encrypt}, a1MsgSig},
		{"A2 msg_signature", []string{"pamtest", "1409304348", "xxxxxx", a2Encrypt}, a2MsgSig},
		{"C msg_signature", []string{"spamtest", "1409735669", "1320562132", cEncrypt}, cMsgSig},
		{"silenceper's own test", []string{"a", "b", "c"}, "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"five parts take the slow path", []string{"e", "d", "c", "b", "a"}, referenceSignature("a", "b", "c", "d", "e")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Signature(tt.parts...); got != tt.want {
				t.Errorf("Signature = %s, want %s", got, tt.want)
			}
			if !Verify(tt.want, tt.parts...) {
				t.Error("Verify rejected the right signature")
			}
			bad := []byte(tt.want)
			bad[7] ^= 1
			if Verify(string(bad), tt.parts...) {
				t.Error("Verify accepted a wrong signature")
			}
			if Verify(strings.ToUpper(tt.want), tt.parts...) && strings.ToUpper(tt.want) != tt.want {
				t.Error("Verify accepted upper-case hex; WeChat sends lower case")
			}
		})
	}
	if Verify("", "a", "b", "c") {
		t.Error("Verify accepted an empty signature")
	}
}

func TestDecryptVectors(t *testing.T) {
	a, err := NewCipher(appA, keyAC)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ enc, plain string }{{a1Encrypt, a1Plain}, {a2Encrypt, a2Plain}} {
		got, err := a.Decrypt(v.enc)
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if string(got) != v.plain {
			t.Errorf("Decrypt = %q, want %q", got, v.plain)
		}
	}
	c, err := NewCipher(appC, keyAC)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decrypt(cEncrypt)
	if err != nil {
		t.Fatalf("Decrypt row C: %v", err)
	}
	if string(got) != cPlainText {
		t.Errorf("row C decrypts to %q, want %q", got, cPlainText)
	}
}

func TestEncryptVectors(t *testing.T) {
	a, err := NewCipher(appA, keyAC)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.EncryptWithRandom(fixedRandom, []byte(a1Plain)); got != a1Encrypt {
		t.Errorf("A1 Encrypt = %s, want %s", got, a1Encrypt)
	}
	if got := a.EncryptWithRandom(fixedRandom, []byte(a2Plain)); got != a2Encrypt {
		t.Errorf("A2 Encrypt = %s, want %s", got, a2Encrypt)
	}
}

func TestDecryptErrors(t *testing.T) {
	a, err := NewCipher(appA, keyAC)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCipher("wxother", keyAC)
	if err != nil {
		t.Fatal(err)
	}
	validPadBadLen := reference{key: a.key, appID: appA}.encryptRaw(make([]byte, 16)) // 16 bytes of plaintext: too short to hold a length
	tests := []struct {
		name    string
		in      string
		kind    kf.Kind
		code    string
		wantMsg string
	}{
		{"not base64", "!!!", kf.KindInvalid, "malformed_ciphertext", "not base64"},
		{"empty", "", kf.KindInvalid, "malformed_ciphertext", "not a positive multiple of 32"},
		{"not a multiple of 32", base64.StdEncoding.EncodeToString(make([]byte, 48)), kf.KindInvalid, "malformed_ciphertext", "not a positive multiple of 32"},
		{"garbage blocks", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 64)), kf.KindInvalid, "malformed_ciphertext", "bad padding or length"},
		{"too short inside", validPadBadLen, kf.KindInvalid, "malformed_ciphertext", "bad padding or length"},
		{"another account's appid", other.Encrypt([]byte("<xml/>")), kf.KindForbidden, "wrong_appid", "another appid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Decrypt(tt.in)
			var e *kf.Error
			if !errors.As(err, &e) {
				t.Fatalf("Decrypt error = %v, want *kf.Error", err)
			}
			if e.Kind != tt.kind || e.Code != tt.code || !strings.Contains(e.Msg, tt.wantMsg) {
				t.Errorf("got (%v, %s, %q), want (%v, %s, …%q…)", e.Kind, e.Code, e.Msg, tt.kind, tt.code, tt.wantMsg)
			}
		})
	}
}

func TestDecodeKey(t *testing.T) {
	if _, err := DecodeKey("short"); err == nil || !strings.Contains(err.Error(), "43 characters") {
		t.Errorf("short key: %v", err)
	}
	if _, err := DecodeKey(strings.Repeat("!", 43)); err == nil {
		t.Error("a key of punctuation decoded")
	}
	key, err := DecodeKey(keyAC)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(key); got != "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051" {
		t.Errorf("AESKey = %s", got)
	}
}

// TestSecondImplementation checks kfgate's cipher against reference, an
// independent implementation written out below from docs/wechat.md, "Safe-mode encryption", with
// the standard library alone: each decrypts what the other encrypts, for
// messages of every length around the padding boundaries.
func TestSecondImplementation(t *testing.T) {
	c, err := NewCipher(appA, keyAC)
	if err != nil {
		t.Fatal(err)
	}
	ref := reference{key: c.key, appID: appA}
	for n := 0; n < 200; n++ {
		msg := make([]byte, n)
		_, _ = rand.Read(msg)
		got, err := c.Decrypt(ref.encrypt(msg))
		if err != nil {
			t.Fatalf("len %d: kfgate cannot decrypt the reference's ciphertext: %v", n, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("len %d: kfgate decrypted the reference's ciphertext wrong", n)
		}
		back, appID, err := ref.decrypt(c.Encrypt(msg))
		if err != nil {
			t.Fatalf("len %d: the reference cannot decrypt kfgate's ciphertext: %v", n, err)
		}
		if !bytes.Equal(back, msg) || appID != appA {
			t.Fatalf("len %d: the reference decrypted kfgate's ciphertext to %q for %q", n, back, appID)
		}
	}
}

// reference is WeChat's message encryption written out independently with
// crypto/aes and crypto/cipher: PKCS#7 with K = 32, IV = key[:16].
type reference struct {
	key   []byte
	appID string
}

func (r reference) encrypt(msg []byte) string {
	var full []byte
	random := make([]byte, 16)
	_, _ = rand.Read(random)
	full = append(full, random...)
	full = binary.BigEndian.AppendUint32(full, uint32(len(msg)))
	full = append(full, msg...)
	full = append(full, r.appID...)
	return r.encryptRaw(full)
}

func (r reference) encryptRaw(full []byte) string {
	pad := 32 - len(full)%32
	full = append(slices.Clone(full), bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, err := aes.NewCipher(r.key)
	if err != nil {
		panic(err)
	}
	out := make([]byte, len(full))
	cipher.NewCBCEncrypter(block, r.key[:16]).CryptBlocks(out, full)
	return base64.StdEncoding.EncodeToString(out)
}

func (r reference) decrypt(enc string) (msg []byte, appID string, err error) {
	ct, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, "", err
	}
	if len(ct)%aes.BlockSize != 0 || len(ct) == 0 {
		return nil, "", errors.New("bad length")
	}
	block, err := aes.NewCipher(r.key)
	if err != nil {
		return nil, "", err
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, r.key[:16]).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > 32 || pad > len(pt) {
		return nil, "", errors.New("bad padding")
	}
	pt = pt[:len(pt)-pad]
	if len(pt) < 20 {
		return nil, "", errors.New("too short")
	}
	n := int(binary.BigEndian.Uint32(pt[16:20]))
	if 20+n > len(pt) {
		return nil, "", errors.New("bad length")
	}
	return pt[20 : 20+n], string(pt[20+n:]), nil
}

func referenceSignature(parts ...string) string {
	s := slices.Clone(parts)
	slices.Sort(s)
	sum := sha1.Sum([]byte(strings.Join(s, "")))
	return hex.EncodeToString(sum[:])
}
