package wxmsg

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kfgate/kfgate/internal/kf"
)

// checkFuzzError fails unless err is the package's one kind of error.
func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	var e *kf.Error
	if !errors.As(err, &e) || e.Kind != kf.KindInvalid || e.Code != "malformed_xml" {
		t.Fatalf("error %v (%T) is not an invalid malformed_xml *kf.Error", err, err)
	}
	if !strings.HasPrefix(e.Msg, "malformed xml: ") || strings.ContainsAny(e.Msg, "\r\n") {
		t.Fatalf("message %q is not one line starting with %q", e.Msg, "malformed xml: ")
	}
}

// fieldErrors are Decode's errors about a well-formed document.
var fieldErrors = map[string]bool{
	"malformed xml: missing MsgType":      true,
	"malformed xml: missing FromUserName": true,
	"malformed xml: missing CreateTime":   true,
	"malformed xml: invalid CreateTime":   true,
}

// FuzzDecode seeds with every golden file and testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, raw := range goldenFiles(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := bytes.Clone(raw)
		m, err := Decode(raw)
		if !bytes.Equal(raw, in) {
			t.Fatal("Decode modified its input")
		}
		// Envelope shares the tokenizer: it must agree on well-formedness.
		_, _, envErr := Envelope(raw)
		if err != nil {
			checkFuzzError(t, err)
			if envErr == nil && !fieldErrors[err.Error()] {
				t.Fatalf("Envelope accepted what Decode rejected with %v", err)
			}
			return
		}
		if envErr != nil && !strings.Contains(envErr.Error(), "Encrypt") {
			t.Fatalf("Envelope rejected a document Decode accepted: %v", envErr)
		}
		if !bytes.Equal(m.Raw, raw) || (len(raw) > 0 && &m.Raw[0] != &raw[0]) {
			t.Fatal("Raw is not the input")
		}
		if m.Type == "" || m.OpenID == "" {
			t.Fatalf("Decode succeeded with Type %q, OpenID %q", m.Type, m.OpenID)
		}
		// A decoded message must be storable: JSON refuses NaN and ±Inf.
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		for k := range m.Extra {
			if k == "" || strings.HasPrefix(k, "/") || strings.HasSuffix(k, "/") {
				t.Fatalf("bad Extra key %q", k)
			}
		}
	})
}

func FuzzEnvelope(f *testing.F) {
	for _, raw := range goldenFiles(f) {
		f.Add(raw)
	}
	f.Add([]byte("<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"))
	f.Add([]byte("<xml><Encrypt>a&amp;b</Encrypt><Encrypt/></xml>"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		toUser, encrypt, err := Envelope(raw)
		if err != nil {
			checkFuzzError(t, err)
			if toUser != "" || encrypt != "" {
				t.Fatalf("Envelope returned %q, %q with an error", toUser, encrypt)
			}
			return
		}
		if encrypt == "" {
			t.Fatal("Envelope succeeded with an empty Encrypt")
		}
	})
}
