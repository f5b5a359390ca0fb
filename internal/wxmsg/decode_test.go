package wxmsg

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kfgate/kfgate/internal/kf"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from what Decode returns")

// goldenFiles returns the golden inputs by name ("text" for text.xml).
func goldenFiles(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no golden files")
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(filepath.Base(p), ".xml")] = raw
	}
	return files
}

// TestDecodeGolden decodes every testdata/golden/<name>.xml and compares the
// result with <name>.json. Run with -update to rewrite the JSON, then read
// the diff.
func TestDecodeGolden(t *testing.T) {
	for name, raw := range goldenFiles(t) {
		t.Run(name, func(t *testing.T) {
			got, err := Decode(raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(got.Raw) != len(raw) || &got.Raw[0] != &raw[0] {
				t.Error("Raw is not the input slice")
			}
			jsonPath := filepath.Join("testdata", "golden", name+".json")
			if *update {
				var b bytes.Buffer
				enc := json.NewEncoder(&b)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(got); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(jsonPath, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(jsonPath)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			var want kf.Message
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			got.Raw = nil
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGoldenCoverage checks that the golden files hold every message type
// and every event kf names.
func TestGoldenCoverage(t *testing.T) {
	types := map[kf.MsgType]bool{}
	events := map[kf.EventType]bool{}
	for _, raw := range goldenFiles(t) {
		m, err := Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		types[m.Type] = true
		events[m.Event] = true
	}
	for _, mt := range []kf.MsgType{kf.MsgText, kf.MsgImage, kf.MsgVoice, kf.MsgVideo,
		kf.MsgShortVideo, kf.MsgLocation, kf.MsgLink, kf.MsgEvent} {
		if !types[mt] {
			t.Errorf("no golden file of MsgType %q", mt)
		}
	}
	for _, ev := range []kf.EventType{kf.EventSubscribe, kf.EventUnsubscribe, kf.EventScan,
		kf.EventLocation, kf.EventClick, kf.EventView, kf.EventKfCreateSession,
		kf.EventKfCloseSession, kf.EventKfSwitchSession, kf.EventTemplateSendJobFinish,
		kf.EventMassSendJobFinish, kf.EventScancodePush, kf.EventScancodeWaitmsg,
		kf.EventPicSysphoto, kf.EventPicPhotoOrAlbum, kf.EventPicWeixin, kf.EventLocationSelect,
		kf.EventViewMiniprogram, kf.EventSubscribeMsgPopup, kf.EventSubscribeMsgChange,
		kf.EventSubscribeMsgSent, kf.EventPublishJobFinish} {
		if !events[ev] {
			t.Errorf("no golden file of Event %q", ev)
		}
	}
}

// head is the common part of a valid push, for the table tests below.
const head = `<ToUserName>gh_1</ToUserName><FromUserName>o_1</FromUserName><CreateTime>1700000000</CreateTime>`

func TestDecodeCases(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want kf.Message
	}{{
		name: "self-closing and empty elements",
		in:   `<xml>` + head + `<MsgType>text</MsgType><Content/><MsgDataId></MsgDataId><Foo/></xml>`,
		want: kf.Message{Type: "text", Extra: map[string]string{"Foo": ""}},
	}, {
		name: "text split around cdata and comments",
		in: `<xml>` + head + `<MsgType>text</MsgType>` +
			`<Content>a &amp; <![CDATA[<b>]]><!-- c --> d<![CDATA[]]></Content></xml>`,
		want: kf.Message{Type: "text", Content: "a & <b> d"},
	}, {
		name: "whitespace kept in strings and trimmed around numbers",
		in: "<xml><ToUserName>gh_1</ToUserName><FromUserName> o_1 </FromUserName>" +
			"<CreateTime>\n1700000000\n</CreateTime><MsgType>event</MsgType><Event>LOCATION</Event>" +
			"<Latitude>\t23.5 </Latitude></xml>",
		want: kf.Message{OpenID: " o_1 ", Type: "event", Event: "LOCATION", Latitude: 23.5},
	}, {
		name: "numbers that do not parse go to Extra",
		in: `<xml>` + head + `<MsgType>event</MsgType><Event>MASSSENDJOBFINISH</Event>` +
			`<TotalCount>many</TotalCount><SentCount>7</SentCount><Latitude>NaN</Latitude>` +
			`<Precision>1e999</Precision><SendPicsInfo><Count>two</Count></SendPicsInfo></xml>`,
		want: kf.Message{Type: "event", Event: "MASSSENDJOBFINISH", SentCount: 7,
			SendPicsInfo: &kf.SendPicsInfo{},
			Extra: map[string]string{"TotalCount": "many", "Latitude": "NaN",
				"Precision": "1e999", "SendPicsInfo/Count": "two"}},
	}, {
		name: "location fields that do not parse go to Extra",
		in: `<xml>` + head + `<MsgType>location</MsgType><Location_X>north</Location_X>` +
			`<Location_Y>113.5</Location_Y><Scale>1.5</Scale></xml>`,
		want: kf.Message{Type: "location", Location: &kf.Location{Longitude: 113.5},
			Extra: map[string]string{"Location_X": "north", "Scale": "1.5"}},
	}, {
		name: "unknown nested elements keep their path",
		in: `<xml>` + head + `<MsgType>event</MsgType><Event>x</Event>` +
			`<A><B><C>1</C></B><C>2</C></A><SendPicsInfo><PicList><item><Other>o</Other></item></PicList></SendPicsInfo>` +
			`<SubscribeMsgSentEvent><List><Extra>e</Extra></List></SubscribeMsgSentEvent></xml>`,
		want: kf.Message{Type: "event", Event: "x",
			SendPicsInfo:  &kf.SendPicsInfo{PicMD5s: []string{""}},
			Subscriptions: []kf.Subscription{{}},
			Extra: map[string]string{"A/B/C": "1", "A/C": "2", "SendPicsInfo/PicList/item/Other": "o",
				"SubscribeMsgSentEvent/List/Extra": "e"}},
	}, {
		name: "repeated elements keep the last value",
		in:   `<xml>` + head + `<MsgType>text</MsgType><Content>a</Content><Content>b</Content><X>1</X><X>2</X></xml>`,
		want: kf.Message{Type: "text", Content: "b", Extra: map[string]string{"X": "2"}},
	}, {
		name: "text beside child elements is ignored",
		in:   `<xml>` + head + `<MsgType>text</MsgType><Content>a<b>c</b>d</Content></xml>`,
		want: kf.Message{Type: "text", Extra: map[string]string{"Content/b": "c"}},
	}, {
		name: "empty containers still show",
		in:   `<xml>` + head + `<MsgType>event</MsgType><ScanCodeInfo/><SendLocationInfo></SendLocationInfo></xml>`,
		want: kf.Message{Type: "event", ScanCodeInfo: &kf.ScanCodeInfo{}, Location: &kf.Location{}},
	}, {
		name: "byte order mark, attributes with > and processing instructions",
		in: "\xef\xbb\xbf<?xml version='1.0'?><xml a=\"1>2\" b = 'x' >" + head +
			`<?php echo 1 ?><MsgType k="v"/><MsgType>text</MsgType></xml><?pi?>`,
		want: kf.Message{Type: "text"},
	}, {
		name: "invalid utf-8 and control characters are kept",
		in:   "<xml>" + head + "<MsgType>text</MsgType><Content>\xff\x01</Content></xml>",
		want: kf.Message{Type: "text", Content: "\xff\x01"},
	}, {
		name: "character references",
		in:   `<xml>` + head + `<MsgType>text</MsgType><Content>&#65;&#x42;&#0067;&#x1F600;</Content></xml>`,
		want: kf.Message{Type: "text", Content: "ABC😀"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !bytes.Equal(got.Raw, []byte(tt.in)) {
				t.Error("Raw differs from the input")
			}
			got.Raw = nil
			// Fill in the common fields of head unless the case overrides them.
			want := tt.want
			if want.ToUserName == "" {
				want.ToUserName = "gh_1"
			}
			if want.OpenID == "" {
				want.OpenID = "o_1"
			}
			want.CreateTime = 1700000000
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	deep := strings.Repeat("<a>", 15) + strings.Repeat("</a>", 15)
	tooDeep := strings.Repeat("<a>", 16) + strings.Repeat("</a>", 16)
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, "missing root element <xml>"},
		{"only whitespace and comments", " <!-- x -->\n", "missing root element <xml>"},
		{"wrong root", `<root>` + head + `</root>`, "root element is <root>, want <xml>"},
		{"root prefix", `<xmlx></xmlx>`, "root element is <xmlx>, want <xml>"},
		{"doctype", `<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml>&x;</xml>`, "doctype not allowed"},
		{"entity declaration", `<!ENTITY x "y"><xml/>`, "entity declaration not allowed"},
		{"doctype inside", `<xml><!DOCTYPE x></xml>`, "doctype not allowed"},
		{"other declaration", `<xml><!ELEMENT x ANY></xml>`, "unexpected <! markup"},
		{"unclosed element", `<xml>` + head + `<MsgType>text</MsgType><Content>hi`, "unclosed element <Content>"},
		{"unclosed root", `<xml>` + head, "unclosed element <xml>"},
		{"mismatched tags", `<xml><Content>hi</Contnet></xml>`, "element <Content> closed by </Contnet>"},
		{"end tag without start", `</xml>`, "unexpected end tag </xml>"},
		{"text after root", `<xml></xml>junk`, "content after root element"},
		{"second root", `<xml></xml><xml></xml>`, "content after root element"},
		{"text before root", `junk<xml></xml>`, "text outside root element"},
		{"cdata outside root", `<![CDATA[x]]><xml></xml>`, "cdata section outside root element"},
		{"unknown entity", `<xml><Content>&nbsp;</Content></xml>`, "unknown entity &nbsp;"},
		{"unterminated entity", `<xml><Content>a & b</Content></xml>`, "unterminated entity reference"},
		{"bad character reference", `<xml><Content>&#0;</Content></xml>`, "invalid character reference &#0;"},
		{"surrogate reference", `<xml><Content>&#xD800;</Content></xml>`, "invalid character reference"},
		{"huge reference", `<xml><Content>&#x110000;</Content></xml>`, "invalid character reference"},
		{"upper-case X reference", `<xml><Content>&#X41;</Content></xml>`, "invalid character reference"},
		{"too deep", `<xml>` + tooDeep + `</xml>`, "nesting deeper than 16 elements"},
		{"cdata end in text", `<xml><Content>a]]>b</Content></xml>`, "]]> outside cdata section"},
		{"unterminated comment", `<xml><!-- x</xml>`, "unterminated comment"},
		{"unterminated cdata", `<xml><Content><![CDATA[x</Content></xml>`, "unterminated cdata section"},
		{"unterminated start tag", `<xml><Content`, "unterminated start tag <Content>"},
		{"unterminated end tag", `<xml></xml`, "unterminated end tag </xml>"},
		{"bad element name", `<xml><1a></1a></xml>`, "invalid element name"},
		{"attribute without value", `<xml a></xml>`, "malformed attribute in <xml>"},
		{"unquoted attribute", `<xml a=1></xml>`, "malformed attribute in <xml>"},
		{"attribute with <", `<xml a="<"></xml>`, "malformed attribute in <xml>"},
		{"attribute not separated", `<xml a="1"b="2"></xml>`, "malformed start tag <xml>"},
		{"late xml declaration", `<xml><?xml version="1.0"?></xml>`, "xml declaration inside the document"},
		{"unterminated processing instruction", `<?xml version="1.0"`, "unterminated processing instruction"},
		{"missing MsgType", `<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime></xml>`, "missing MsgType"},
		{"empty MsgType", `<xml><MsgType/><FromUserName>o</FromUserName><CreateTime>1</CreateTime></xml>`, "missing MsgType"},
		{"missing FromUserName", `<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>`, "missing FromUserName"},
		{"missing CreateTime", `<xml><MsgType>text</MsgType><FromUserName>o</FromUserName></xml>`, "missing CreateTime"},
		{"invalid CreateTime", `<xml><MsgType>text</MsgType><FromUserName>o</FromUserName><CreateTime>soon</CreateTime></xml>`, "invalid CreateTime"},
		{"nested CreateTime only", `<xml><MsgType>text</MsgType><FromUserName>o</FromUserName><A><CreateTime>1</CreateTime></A></xml>`, "missing CreateTime"},
		{"deep but allowed, no fields", `<xml>` + deep + `</xml>`, "missing MsgType"},
		{"binary name quoted", "<xml><a\xff></a\xfe></xml>", `element <"a\xff"> closed by </"a\xfe">`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", m)
			}
			checkMalformed(t, err, tt.want)
		})
	}
}

// checkMalformed checks that err is the package's one kind of error and
// that its message contains want.
func checkMalformed(t *testing.T, err error, want string) {
	t.Helper()
	var e *kf.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *kf.Error", err, err)
	}
	if e.Kind != kf.KindInvalid || e.Code != "malformed_xml" || !errors.Is(err, kf.ErrInvalid) {
		t.Errorf("error kind %v code %q, want invalid malformed_xml", e.Kind, e.Code)
	}
	if !strings.HasPrefix(e.Msg, "malformed xml: ") || strings.ContainsAny(e.Msg, "\r\n") {
		t.Errorf("message %q is not one line starting with %q", e.Msg, "malformed xml: ")
	}
	if !strings.Contains(e.Msg, want) {
		t.Errorf("message %q does not contain %q", e.Msg, want)
	}
}

// TestDecodeAllocs guards the point of the package: a text message costs
// one allocation (the string copy of the input).
func TestDecodeAllocs(t *testing.T) {
	raw := goldenFiles(t)["text"]
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Decode(raw); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Decode(text) allocates %v times, want 1", allocs)
	}
}
