package sim

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

// The customer-service session events WeChat pushes to the account's
// callback URL (docs/wechat.md, "Messages and events"): kf_create_session
// when a kf account takes a user, kf_close_session when it ends the
// session, kf_switch_session when it hands the user to another. Whether
// WeChat still pushes them, and whether it does so for sessions made
// through the API too, is not documented; the simulator pushes them for
// every session it creates, closes or switches, through the API or "in
// WeChat's tool" (CloseAsKf, SwitchAsKf), so that kfgate is tested
// against the noisier case: its own calls echoed back.

// kfEvent is one push waiting to be posted.
type kfEvent struct {
	appid, openid, event string
	kf, from, to         string
	at                   time.Time
}

// CallbackTo makes the simulator post acct's kf_* events to the kfgate at
// base, signed (and in safe mode encrypted) as WeChat posts every push.
func (a *API) CallbackTo(base string, acct Account, safe bool) error {
	p, err := NewPoster(base, acct, safe, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.accounts[acct.AppID] == nil {
		return fmt.Errorf("sim: no account %q", acct.AppID)
	}
	a.callbacks[acct.AppID] = p
	return nil
}

// notify queues a push of acct's; the caller holds a.mu, and flush posts
// it once the lock is released.
func (a *API) notify(acct *account, openid, event, kf, from, to string, at time.Time) {
	if a.callbacks[acct.appid] == nil {
		return
	}
	a.pending = append(a.pending, kfEvent{appid: acct.appid, openid: openid, event: event, kf: kf, from: from, to: to, at: at})
}

// flush posts the queued pushes, in the order they happened. WeChat's
// retries are not simulated: a push kfgate does not take counts in
// CallbackFailures.
func (a *API) flush() {
	a.postMu.Lock()
	defer a.postMu.Unlock()
	a.mu.Lock()
	events := a.pending
	a.pending = nil
	a.mu.Unlock()
	for _, ev := range events {
		a.mu.Lock()
		p := a.callbacks[ev.appid]
		a.mu.Unlock()
		pr := p.Prepare(KfEventXML(p.acct.GhID, ev.openid, ev.at.Unix(), ev.event, ev.kf, ev.from, ev.to))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		status, body, err := p.Post(ctx, pr)
		cancel()
		if err != nil || status != http.StatusOK || string(body) != "success" {
			a.mu.Lock()
			a.callbackFailures++
			a.mu.Unlock()
		}
	}
}

// CallbackFailures counts the pushes kfgate did not answer with success.
func (a *API) CallbackFailures() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.callbackFailures
}

// KfEventXML is the push of a kf_* event about openid (docs/wechat.md,
// "Messages and events"): KfAccount for kf_create_session and
// kf_close_session, FromKfAccount and ToKfAccount for kf_switch_session.
func KfEventXML(ghID, openid string, createTime int64, event, kf, from, to string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"+
		"<CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event>", ghID, openid, createTime, event)
	if kf != "" {
		fmt.Fprintf(&b, "<KfAccount><![CDATA[%s]]></KfAccount>", kf)
	}
	if from != "" || to != "" {
		fmt.Fprintf(&b, "<FromKfAccount><![CDATA[%s]]></FromKfAccount><ToKfAccount><![CDATA[%s]]></ToKfAccount>", from, to)
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

// CloseAsKf is the kf account serving openid ending the session in
// WeChat's tool: the session ends and kf_close_session is pushed.
func (a *API) CloseAsKf(appid, openid string) error {
	a.mu.Lock()
	acct := a.accounts[appid]
	if acct == nil {
		a.mu.Unlock()
		return fmt.Errorf("sim: no account %q", appid)
	}
	s := acct.sessions[openid]
	if s == nil {
		a.mu.Unlock()
		return fmt.Errorf("sim: %s has no kf session", openid)
	}
	delete(acct.sessions, openid)
	a.notify(acct, openid, "kf_close_session", s.kf, "", "", a.now())
	a.mu.Unlock()
	a.flush()
	return nil
}

// SwitchAsKf is the kf account serving openid handing the user to toKf in
// WeChat's tool, which must be online: kf_switch_session is pushed.
func (a *API) SwitchAsKf(appid, openid, toKf string) error {
	a.mu.Lock()
	acct := a.accounts[appid]
	if acct == nil {
		a.mu.Unlock()
		return fmt.Errorf("sim: no account %q", appid)
	}
	s, k := acct.sessions[openid], acct.kf(toKf)
	switch {
	case s == nil:
		a.mu.Unlock()
		return fmt.Errorf("sim: %s has no kf session", openid)
	case k == nil || !k.online:
		a.mu.Unlock()
		return fmt.Errorf("sim: kf account %q is not online", toKf)
	}
	from := s.kf
	acct.sessions[openid] = &kfSession{kf: toKf, created: a.now()}
	a.notify(acct, openid, "kf_switch_session", "", from, toKf, a.now())
	a.mu.Unlock()
	a.flush()
	return nil
}

// KfSessions returns who serves whom in WeChat's tool: openid → kf account.
func (a *API) KfSessions(appid string) map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]string{}
	if acct := a.accounts[appid]; acct != nil {
		for openid, s := range acct.sessions {
			out[openid] = s.kf
		}
	}
	return out
}

// kfSessionsCopy is KfSessions for the /sim/ endpoint.
func (a *API) kfSessionsCopy(appid string) map[string]string { return maps.Clone(a.KfSessions(appid)) }

// AddKf adds the kf account kfAccount to appid, as kfaccount/add does (a
// test's shortcut past the access token).
func (a *API) AddKf(appid, name, nickname string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	acct := a.accounts[appid]
	switch {
	case acct == nil:
		return fmt.Errorf("sim: no account %q", appid)
	case !kfAccountRe.MatchString(name) || !validNickname(nickname):
		return fmt.Errorf("sim: bad kf account %q or nickname %q", name, nickname)
	case acct.kf(name) != nil:
		return fmt.Errorf("sim: %s exists", name)
	}
	acct.kfs = append(acct.kfs, &kfAccount{account: name, nick: nickname, id: acct.nextKfID})
	acct.nextKfID++
	return nil
}
