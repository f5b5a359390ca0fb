package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Interact tells the simulated WeChat at api (a `kfgate sim api`) that
// openid just wrote to the account, opening the reply window real WeChat
// would open.
func Interact(ctx context.Context, api, appid, openid string) error {
	body, _ := json.Marshal(map[string]string{"appid": appid, "openid": openid, "kind": string(InteractMessage)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(api, "/")+"/sim/interact", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("sim api: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sim api: /sim/interact answered %s", resp.Status)
	}
	return nil
}

// AwaitReceived polls the simulated WeChat for what openid received and
// returns it once something arrived and nothing more came for a moment, or
// when wait is over.
func AwaitReceived(ctx context.Context, api, appid, openid string, wait time.Duration) ([]Received, error) {
	u := strings.TrimRight(api, "/") + "/sim/received?" + url.Values{"appid": {appid}, "openid": {openid}}.Encode()
	var last []Received
	deadline := time.Now().Add(wait)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("sim api: %w", err)
		}
		var got []Received
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("sim api: /sim/received: %w", err)
		}
		if (len(got) > 0 && len(got) == len(last)) || time.Now().After(deadline) {
			return got, nil
		}
		last = got
		time.Sleep(300 * time.Millisecond)
	}
}
