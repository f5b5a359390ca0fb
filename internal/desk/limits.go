package desk

import (
	"bytes"
	"io"
	"net/http"

	"github.com/kfgate/kfgate/internal/kf"
)

// MaxText is the longest text an agent may send, in bytes of UTF-8.
// WeChat refuses a longer custom/send text with 45002 "content size out of
// limit" and publishes no number; 2,048 bytes (about 680 Chinese
// characters) is the limit internal/sim enforces, and kfgate refuses a
// longer text at once (400) rather than accept it and fail in the outbox.
// Splitting would spend the user's reply quota (5 messages a window) on
// one answer, so it is left to the agent.
const MaxText = 2048

// checkText refuses at submit what WeChat would refuse later: an empty
// text or one of white space and invisible characters only (44004), a
// text over MaxText (45002). The text rule (no NUL …) is the API's.
func checkText(text string) error {
	switch {
	case kf.Blank(text):
		return kf.Errorf(kf.KindInvalid, "empty_message", "content is empty or shows nothing; WeChat refuses an empty text (44004)")
	case len(text) > MaxText:
		return kf.Errorf(kf.KindInvalid, "text_too_long", "content is %d bytes; WeChat refuses a text over %d bytes (45002)", len(text), MaxText)
	}
	return nil
}

// Image types WeChat takes as temporary image media (jpg/png/gif/bmp), by
// what http.DetectContentType sniffs from the bytes, never by the name.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/bmp": true}

// sniffImage reads the start of an image the agent sends and refuses what
// WeChat would refuse (40004/40005/41005) before any call: nothing at all,
// or bytes that are not a JPEG, PNG, GIF or BMP whatever the file is
// called. It returns a reader of the whole image.
func sniffImage(r io.Reader) (io.Reader, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, kf.Errorf(kf.KindInvalid, "bad_image", "the image could not be read")
	}
	head = head[:n]
	if n == 0 {
		return nil, kf.Errorf(kf.KindInvalid, "empty_image", "the image is empty; WeChat refuses an empty file (41005)")
	}
	if typ := http.DetectContentType(head); !imageTypes[typ] {
		return nil, kf.Errorf(kf.KindInvalid, "bad_image", "the file is %s, not a JPEG, PNG, GIF or BMP image", typ)
	}
	return io.MultiReader(bytes.NewReader(head), r), nil
}
