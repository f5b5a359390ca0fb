package wxmsg

import (
	"testing"
)

func TestEnvelope(t *testing.T) {
	tests := []struct {
		name, in        string
		toUser, encrypt string
	}{{
		name: "safe mode",
		in: "<xml>\n    <ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n" +
			"    <Encrypt><![CDATA[AAAA+/==]]></Encrypt>\n</xml>",
		toUser: "gh_97417a04a28d", encrypt: "AAAA+/==",
	}, {
		name:    "compatible mode carries the plaintext fields too",
		in:      string(goldenFiles(t)["text_compatible_mode"]),
		toUser:  "gh_10f6c3c3ac5a",
		encrypt: "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=",
	}, {
		name:   "no ToUserName, Encrypt without CDATA",
		in:     `<?xml version="1.0"?><xml><Encrypt>abc</Encrypt></xml>`,
		toUser: "", encrypt: "abc",
	}, {
		name:   "Encrypt kept exactly, whitespace included",
		in:     "<xml><Encrypt>\n abc\n</Encrypt></xml>",
		toUser: "", encrypt: "\n abc\n",
	}, {
		name:   "a nested Encrypt is not the envelope's",
		in:     `<xml><A><Encrypt>inner</Encrypt></A><Encrypt>outer</Encrypt><ToUserName>gh_x</ToUserName></xml>`,
		toUser: "gh_x", encrypt: "outer",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toUser, encrypt, err := Envelope([]byte(tt.in))
			if err != nil {
				t.Fatalf("Envelope: %v", err)
			}
			if toUser != tt.toUser || encrypt != tt.encrypt {
				t.Errorf("Envelope = %q, %q; want %q, %q", toUser, encrypt, tt.toUser, tt.encrypt)
			}
		})
	}
}

func TestEnvelopeMalformed(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty body", ``, "missing root element <xml>"},
		{"plaintext push", string(goldenFiles(t)["text"]), "missing Encrypt"},
		{"empty Encrypt", `<xml><ToUserName>gh_1</ToUserName><Encrypt><![CDATA[]]></Encrypt></xml>`, "empty Encrypt"},
		{"self-closing Encrypt", `<xml><Encrypt/></xml>`, "empty Encrypt"},
		{"only nested Encrypt", `<xml><A><Encrypt>x</Encrypt></A></xml>`, "missing Encrypt"},
		{"doctype", `<!DOCTYPE xml SYSTEM "http://evil/"><xml><Encrypt>x</Encrypt></xml>`, "doctype not allowed"},
		{"truncated", `<xml><ToUserName>gh_1</ToUserName><Encrypt>abc`, "unclosed element <Encrypt>"},
		{"junk after root", `<xml><Encrypt>x</Encrypt></xml>x`, "content after root element"},
		{"wrong root", `<Encrypt>x</Encrypt>`, "root element is <Encrypt>, want <xml>"},
		{"unknown entity", `<xml><Encrypt>&xxe;</Encrypt></xml>`, "unknown entity &xxe;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toUser, encrypt, err := Envelope([]byte(tt.in))
			if err == nil {
				t.Fatalf("Envelope succeeded: %q, %q", toUser, encrypt)
			}
			if toUser != "" || encrypt != "" {
				t.Errorf("Envelope returned %q, %q with an error", toUser, encrypt)
			}
			checkMalformed(t, err, tt.want)
		})
	}
}
