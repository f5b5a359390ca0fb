package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
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

// OpenWindows tells the simulated WeChat at api that the load's users
// 0…users−1 (LoadOpenID) just wrote to the account, over conns connections,
// so that what kfgate sends them during a load run falls inside their
// windows, as it would for real users whose messages those are.
func OpenWindows(ctx context.Context, api, appid string, users, conns int) error {
	ids := make(chan int)
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for range max(conns, 1) {
		wg.Go(func() {
			for i := range ids {
				if err := Interact(ctx, api, appid, LoadOpenID(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
feed:
	for i := range users {
		select {
		case ids <- i:
		case err := <-errs:
			close(ids)
			wg.Wait()
			return err
		case <-ctx.Done():
			break feed
		}
	}
	close(ids)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
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
