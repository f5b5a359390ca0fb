package wxmsg

import (
	"strconv"
	"strings"

	"github.com/kfgate/kfgate/internal/kf"
)

// maxDepth bounds element nesting, <xml> included. WeChat's deepest push
// (MASSSENDJOBFINISH's CopyrightCheckResult/ResultList/item/…) is 5 deep.
const maxDepth = 16

// The scanner is a small, strict XML tokenizer for the documents WeChat
// pushes. It checks well-formedness (one <xml> root, matching tags, known
// entities, bounded nesting) and refuses DOCTYPE and ENTITY declarations
// outright, so no external entity is ever resolved (XXE).
//
// It is deliberately not a full XML 1.0 processor. Attribute values are
// skipped unchecked and namespaces mean nothing. Bytes are kept as sent: no
// CR LF normalisation, and no UTF-8 or XML-character validation, so a push
// with a stray invalid byte in what a user typed is delivered rather than
// refused (encoding/json turns such bytes into U+FFFD when the message is
// stored). Character data is returned as substrings of the input unless it
// holds an entity reference, so a typical push costs no allocation here.

type tokKind uint8

const (
	tokEOF   tokKind = iota
	tokStart         // text is the name; the element is on the stack
	tokEnd           // text is the name; the element is already popped
	tokText          // text is character data or a CDATA section, decoded
)

type scanner struct {
	s   string
	pos int

	depth int
	stack [maxDepth]string // names of the open elements; stack[0] is "xml"

	rootSeen  bool // <xml> was opened
	rootDone  bool // </xml> was seen
	selfClose bool // the last start tag was <a/>: the next token is its end
}

func newScanner(s string) scanner {
	sc := scanner{s: s}
	if strings.HasPrefix(s, "\xef\xbb\xbf") { // a UTF-8 byte order mark
		sc.pos = 3
	}
	return sc
}

// malformed returns the error every parse failure in this package reports.
func malformed(format string, args ...any) error {
	return kf.Errorf(kf.KindInvalid, "malformed_xml", "malformed xml: "+format, args...)
}

func (sc *scanner) fail(pos int, format string, args ...any) error {
	return malformed(format+" at byte %d", append(args, pos)...)
}

// next returns the next token. Comments, processing instructions and
// whitespace outside the root are consumed silently.
func (sc *scanner) next() (tokKind, string, error) {
	for {
		if sc.selfClose {
			sc.selfClose = false
			kind := sc.pop()
			return kind, sc.stack[sc.depth], nil
		}
		if sc.pos >= len(sc.s) {
			switch {
			case sc.depth > 0:
				return tokEOF, "", malformed("unclosed element <%s>", safeName(sc.stack[sc.depth-1]))
			case !sc.rootSeen:
				return tokEOF, "", malformed("missing root element <xml>")
			}
			return tokEOF, "", nil
		}
		if sc.s[sc.pos] != '<' {
			start := sc.pos
			end := strings.IndexByte(sc.s[start:], '<')
			if end < 0 {
				end = len(sc.s)
			} else {
				end += start
			}
			sc.pos = end
			text := sc.s[start:end]
			if sc.depth == 0 {
				if !isSpace(text) {
					if sc.rootDone {
						return tokEOF, "", sc.fail(start, "content after root element")
					}
					return tokEOF, "", sc.fail(start, "text outside root element")
				}
				continue
			}
			if strings.Contains(text, "]]>") {
				return tokEOF, "", sc.fail(start+strings.Index(text, "]]>"), "]]> outside cdata section")
			}
			if strings.IndexByte(text, '&') >= 0 {
				var err error
				if text, err = sc.unescape(text, start); err != nil {
					return tokEOF, "", err
				}
			}
			return tokText, text, nil
		}

		rest := sc.s[sc.pos:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			i := strings.Index(rest[4:], "-->")
			if i < 0 {
				return tokEOF, "", sc.fail(sc.pos, "unterminated comment")
			}
			sc.pos += 4 + i + 3
		case strings.HasPrefix(rest, "<![CDATA["):
			if sc.depth == 0 {
				return tokEOF, "", sc.fail(sc.pos, "cdata section outside root element")
			}
			i := strings.Index(rest[9:], "]]>")
			if i < 0 {
				return tokEOF, "", sc.fail(sc.pos, "unterminated cdata section")
			}
			sc.pos += 9 + i + 3
			return tokText, rest[9 : 9+i], nil
		case strings.HasPrefix(rest, "<!DOCTYPE"):
			return tokEOF, "", sc.fail(sc.pos, "doctype not allowed")
		case strings.HasPrefix(rest, "<!ENTITY"):
			return tokEOF, "", sc.fail(sc.pos, "entity declaration not allowed")
		case strings.HasPrefix(rest, "<!"):
			return tokEOF, "", sc.fail(sc.pos, "unexpected <! markup")
		case strings.HasPrefix(rest, "<?"):
			if err := sc.procInst(); err != nil {
				return tokEOF, "", err
			}
		case strings.HasPrefix(rest, "</"):
			return sc.endTag()
		default:
			return sc.startTag()
		}
	}
}

func (sc *scanner) pop() tokKind {
	sc.depth--
	if sc.depth == 0 {
		sc.rootDone = true
	}
	return tokEnd
}

// procInst skips <?target …?>. The XML declaration <?xml …?> must come
// before the root (leading whitespace is forgiven); its encoding is not
// checked, as WeChat sends UTF-8 only.
func (sc *scanner) procInst() error {
	start := sc.pos
	target, p, ok := sc.name(start + 2)
	if !ok {
		return sc.fail(start, "malformed processing instruction")
	}
	if strings.EqualFold(target, "xml") && sc.rootSeen {
		return sc.fail(start, "xml declaration inside the document")
	}
	i := strings.Index(sc.s[p:], "?>")
	if i < 0 {
		return sc.fail(start, "unterminated processing instruction")
	}
	sc.pos = p + i + 2
	return nil
}

func (sc *scanner) startTag() (tokKind, string, error) {
	start := sc.pos
	name, p, ok := sc.name(start + 1)
	if !ok {
		return tokEOF, "", sc.fail(start, "invalid element name")
	}
	switch {
	case sc.rootDone:
		return tokEOF, "", sc.fail(start, "content after root element")
	case sc.depth == 0 && name != "xml":
		return tokEOF, "", sc.fail(start, "root element is <%s>, want <xml>", safeName(name))
	case sc.depth == maxDepth:
		return tokEOF, "", sc.fail(start, "nesting deeper than %d elements", maxDepth)
	}
	// Attributes are parsed only far enough to find the tag's end: a quoted
	// value may hold '>'.
	for {
		q := skipSpace(sc.s, p)
		if q >= len(sc.s) {
			return tokEOF, "", sc.fail(start, "unterminated start tag <%s>", safeName(name))
		}
		switch c := sc.s[q]; {
		case c == '>':
			p = q + 1
		case c == '/' && q+1 < len(sc.s) && sc.s[q+1] == '>':
			p = q + 2
			sc.selfClose = true
		default:
			if q == p { // an attribute must follow whitespace
				return tokEOF, "", sc.fail(q, "malformed start tag <%s>", safeName(name))
			}
			if p, ok = sc.attr(q); !ok {
				return tokEOF, "", sc.fail(q, "malformed attribute in <%s>", safeName(name))
			}
			continue
		}
		break
	}
	sc.pos = p
	sc.stack[sc.depth] = name
	sc.depth++
	sc.rootSeen = true
	return tokStart, name, nil
}

// attr skips name="value" (or 'value') at p and returns the position after it.
func (sc *scanner) attr(p int) (int, bool) {
	_, p, ok := sc.name(p)
	if !ok {
		return p, false
	}
	p = skipSpace(sc.s, p)
	if p >= len(sc.s) || sc.s[p] != '=' {
		return p, false
	}
	p = skipSpace(sc.s, p+1)
	if p >= len(sc.s) || (sc.s[p] != '"' && sc.s[p] != '\'') {
		return p, false
	}
	end := strings.IndexByte(sc.s[p+1:], sc.s[p])
	if end < 0 || strings.IndexByte(sc.s[p+1:p+1+end], '<') >= 0 {
		return p, false
	}
	return p + 1 + end + 1, true
}

func (sc *scanner) endTag() (tokKind, string, error) {
	start := sc.pos
	name, p, ok := sc.name(start + 2)
	if !ok {
		return tokEOF, "", sc.fail(start, "invalid element name")
	}
	p = skipSpace(sc.s, p)
	if p >= len(sc.s) || sc.s[p] != '>' {
		return tokEOF, "", sc.fail(start, "unterminated end tag </%s>", safeName(name))
	}
	if sc.depth == 0 {
		return tokEOF, "", sc.fail(start, "unexpected end tag </%s>", safeName(name))
	}
	if open := sc.stack[sc.depth-1]; open != name {
		return tokEOF, "", sc.fail(start, "element <%s> closed by </%s>", safeName(open), safeName(name))
	}
	sc.pos = p + 1
	kind := sc.pop()
	return kind, name, nil
}

// name reads an XML name at p. It accepts the ASCII name characters and
// any byte >= 0x80, without checking which Unicode letters those spell.
func (sc *scanner) name(p int) (string, int, bool) {
	if p >= len(sc.s) || nameByte[sc.s[p]] != nameStart {
		return "", p, false
	}
	q := p + 1
	for q < len(sc.s) && nameByte[sc.s[q]] != 0 {
		q++
	}
	return sc.s[p:q], q, true
}

const (
	nameStart = 1 + iota // may start a name
	nameOther            // may continue one
)

var nameByte = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_', c == ':', c >= 0x80:
			t[c] = nameStart
		case '0' <= c && c <= '9', c == '-', c == '.':
			t[c] = nameOther
		}
	}
	return t
}()

func isSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpaceByte(s[i]) {
			return false
		}
	}
	return true
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(s string, p int) int {
	for p < len(s) && isSpaceByte(s[p]) {
		p++
	}
	return p
}

// safeName makes a name from the input fit a one-line error message: short,
// printable ASCII as is, anything else quoted.
func safeName(s string) string {
	const limit = 40
	cut := len(s) > limit
	if cut {
		s = s[:limit]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			s = strconv.QuoteToASCII(s)
			break
		}
	}
	if cut {
		s += "..."
	}
	return s
}
