package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/kfgate/kfgate/internal/kf"
)

// decode reads a JSON body strictly: an unknown field or a second value is
// the client's mistake, said in one line.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return kf.Errorf(kf.KindInvalid, "bad_json", "invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return kf.Errorf(kf.KindInvalid, "bad_json", "invalid JSON body: more than one value")
	}
	return nil
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
