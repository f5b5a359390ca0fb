package server

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kfgate/kfgate/internal/kf"
)

// Limits of what a request may carry, checked once for every /api/v1 call
// (checkInput) before any handler, Redis or PostgreSQL sees it.
const (
	maxPathSegment = 128     // bytes of one path segment (an id)
	maxQueryValue  = 256     // bytes of one query value
	maxBody        = 1 << 20 // bytes of a JSON body
)

// checkInput refuses, with 400 and the reason, a request whose path or
// query breaks the text rule (kf.CheckText: valid UTF-8, no NUL or other
// control character) or the limits above: ids and query values are
// validated here once, so that no handler passes a NUL to PostgreSQL.
func (s *server) checkInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := inputError(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func inputError(r *http.Request) error {
	for seg := range strings.SplitSeq(r.URL.Path, "/") {
		if why := kf.CheckText(seg); why != "" {
			return kf.Errorf(kf.KindInvalid, "bad_path", "the path %s", why)
		}
		if len(seg) > maxPathSegment {
			return kf.Errorf(kf.KindInvalid, "bad_path", "a path segment is at most %d bytes", maxPathSegment)
		}
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	for key, values := range q {
		if why := kf.CheckText(key); why != "" {
			return kf.Errorf(kf.KindInvalid, "bad_query", "a query parameter's name %s", why)
		}
		for _, v := range values {
			if why := kf.CheckText(v); why != "" {
				return kf.Errorf(kf.KindInvalid, "bad_query", "query parameter %s %s", clip(key), why)
			}
			if len(v) > maxQueryValue {
				return kf.Errorf(kf.KindInvalid, "bad_query", "query parameter %s is longer than %d bytes", clip(key), maxQueryValue)
			}
		}
		if len(values) > 1 {
			return kf.Errorf(kf.KindInvalid, "bad_query", "query parameter %s is given more than once", clip(key))
		}
	}
	return nil
}

// parseQuery is url.ParseQuery refusing what it would drop silently (a
// bad escape), so that the handler never sees a different query than the
// client sent.
func parseQuery(raw string) (map[string][]string, error) {
	q := map[string][]string{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := unescape(k)
		val, err2 := unescape(v)
		if err1 != nil || err2 != nil {
			return nil, kf.Errorf(kf.KindInvalid, "bad_query", "the query has a bad %%-escape")
		}
		q[key] = append(q[key], val)
	}
	return q, nil
}

func unescape(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// clip shortens a client's text for an error message.
func clip(s string) string {
	s = kf.SafeText(s)
	if len(s) > 32 {
		s = s[:32]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return strconv.Quote(s)
}

// decode reads a JSON body strictly: an unknown field or a second value is
// the client's mistake, said in one line; so is a body that is not UTF-8
// (encoding/json would turn its bad bytes into U+FFFD silently) or a
// string in it that breaks the text rule (a NUL written as \u0000).
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return kf.Errorf(kf.KindInvalid, "bad_json", "the body could not be read")
	}
	if len(body) > maxBody {
		return kf.Errorf(kf.KindTooLarge, "too_large", "a JSON body is at most %d bytes", maxBody)
	}
	if !utf8.Valid(body) {
		return kf.Errorf(kf.KindInvalid, "bad_json", "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return kf.Errorf(kf.KindInvalid, "bad_json", "invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return kf.Errorf(kf.KindInvalid, "bad_json", "invalid JSON body: more than one value")
	}
	if name, why := badString(reflect.ValueOf(v), ""); why != "" {
		return kf.Errorf(kf.KindInvalid, "bad_text", "%s %s", strings.TrimPrefix(name, "."), why)
	}
	return nil
}

// badString walks a decoded body and returns the first string field that
// breaks the text rule, with the reason.
func badString(v reflect.Value, name string) (string, string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", ""
		}
		return badString(v.Elem(), name)
	case reflect.String:
		if why := kf.CheckText(v.String()); why != "" {
			return cmp.Or(name, "a value"), why
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			field := t.Field(i).Name
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); tag != "" {
				field = tag
			}
			if n, why := badString(v.Field(i), name+"."+field); why != "" {
				return n, why
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if n, why := badString(v.Index(i), name+"["+strconv.Itoa(i)+"]"); why != "" {
				return n, why
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if n, why := badString(it.Key(), name+" key"); why != "" {
				return n, why
			}
			if n, why := badString(it.Value(), name+"."+it.Key().String()); why != "" {
				return n, why
			}
		}
	}
	return "", ""
}

func paging(r *http.Request) (limit int, before int64, err error) {
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return 0, 0, kf.Errorf(kf.KindInvalid, "bad_query", "limit must be 1 to 500")
		}
	}
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return 0, 0, kf.Errorf(kf.KindInvalid, "bad_query", "before must be a message id")
		}
	}
	return limit, before, nil
}
