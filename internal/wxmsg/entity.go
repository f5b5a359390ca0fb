package wxmsg

import (
	"strings"
	"unicode/utf8"
)

// unescape replaces the five predefined entities and character references
// in text, which starts at byte off of the document.
func (sc *scanner) unescape(text string, off int) (string, error) {
	var b strings.Builder
	b.Grow(len(text))
	for {
		i := strings.IndexByte(text, '&')
		if i < 0 {
			b.WriteString(text)
			return b.String(), nil
		}
		b.WriteString(text[:i])
		off += i
		text = text[i+1:]
		// The longest reference worth reading is a character reference
		// padded with zeros; 32 bytes is plenty and bounds the search.
		j := strings.IndexByte(text[:min(len(text), 32)], ';')
		if j < 0 {
			return "", sc.fail(off, "unterminated entity reference")
		}
		ent := text[:j]
		text = text[j+1:]
		switch ent {
		case "lt":
			b.WriteByte('<')
		case "gt":
			b.WriteByte('>')
		case "amp":
			b.WriteByte('&')
		case "quot":
			b.WriteByte('"')
		case "apos":
			b.WriteByte('\'')
		default:
			if !strings.HasPrefix(ent, "#") {
				return "", sc.fail(off, "unknown entity &%s;", safeName(ent))
			}
			r, ok := charRef(ent[1:])
			if !ok {
				return "", sc.fail(off, "invalid character reference &%s;", safeName(ent))
			}
			b.WriteRune(r)
		}
		off += 1 + j + 1
	}
}

// charRef decodes the digits of &#NN; or &#xHH; into a character XML allows.
func charRef(digits string) (rune, bool) {
	base := 10
	if strings.HasPrefix(digits, "x") {
		base, digits = 16, digits[1:]
	}
	if digits == "" {
		return 0, false
	}
	var r rune
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = rune(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		r = r*rune(base) + d
		if r > utf8.MaxRune {
			return 0, false
		}
	}
	return r, isXMLChar(r)
}

// isXMLChar reports whether r is a Char of XML 1.0 (§2.2).
func isXMLChar(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r':
		return true
	case r < 0x20:
		return false
	case r <= 0xD7FF:
		return true
	case r < 0xE000:
		return false
	case r <= 0xFFFD:
		return true
	case r < 0x10000:
		return false
	}
	return r <= utf8.MaxRune
}
