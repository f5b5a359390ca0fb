package kf

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The one rule for text from outside kfgate (callbacks, the API, the
// configuration): it is valid UTF-8 and holds no NUL or other C0 control
// character but tab, line feed and carriage return, nor DEL. PostgreSQL
// refuses a NUL and invalid UTF-8 in a text column (SQLSTATE 22021), and
// JSON encoders turn invalid bytes into U+FFFD anyway, so such text cannot
// be stored or shown as it came; control characters have no business in a
// customer-service conversation and WeChat's clients do not display them.
//
// Where kfgate can refuse (the API, the configuration) it refuses, with
// CheckText. Where refusing would lose a real user's message (a callback:
// WeChat is the sender, and a refusal is not shown to the user, WeChat just
// retries the same bytes), the text is made safe instead with SafeText:
// every invalid byte and every refused character becomes U+FFFD, the
// replacement character, so the message goes through and shows where
// something was lost.

// badRune reports whether r is a character the rule refuses.
func badRune(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f
}

// CheckText returns a one-line reason why s breaks the rule, or "".
func CheckText(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if i := strings.IndexFunc(s, badRune); i >= 0 {
		if s[i] == 0 {
			return "contains a NUL character"
		}
		return "contains a control character"
	}
	return ""
}

// CleanBytes reports whether b keeps the rule, without a copy. The
// refused characters are all ASCII, and no byte of a multi-byte UTF-8
// sequence is below 0x80, so a byte scan finds them.
func CleanBytes(b []byte) bool {
	for _, c := range b {
		if badRune(rune(c)) {
			return false
		}
	}
	return utf8.Valid(b)
}

// SafeText returns s with every run of invalid UTF-8 bytes and every character
// the rule refuses replaced by U+FFFD; s itself when it is clean.
func SafeText(s string) string {
	if CheckText(s) == "" {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if badRune(r) {
			return utf8.RuneError
		}
		return r
	}, s)
}

// Blank reports whether s shows nothing: only white space and invisible
// format characters (zero-width space, joiners, the byte-order mark …),
// which WeChat would deliver as an empty-looking message or refuse (44004).
func Blank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r) && r != '\u3164' && r != '\u115f' && r != '\u1160' {
			return false
		}
	}
	return true
}
