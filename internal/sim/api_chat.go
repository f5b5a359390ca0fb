package sim

import (
	"fmt"
	"time"
)

// opercodeReceived marks a chat record of a user's message to a kf account
// (客服接收消息; docs/wechat.md, "Customer-service API").
const opercodeReceived = 2003

// KfSent is a test's hook for what kfgate cannot see: the agent behind
// kfAccount wrote text to openid inside WeChat's own customer-service tool
// at at (zero: the simulator's now). The user gets it, and it enters the
// chat records (opercode 2002, worker kfAccount) that getmsglist returns —
// as WeChat records what its tool sends. The kf account must exist and the
// user follow the account; the tool answers within a session, so the reply
// window and quota of custom/send do not apply.
func (a *API) KfSent(appid, openid, kfAccount, text string, at time.Time) error {
	return a.kfChat(appid, openid, kfAccount, text, opercodeSent, at)
}

// KfReceived is the other side: openid wrote text to kfAccount in a session
// WeChat's tool served, recorded with opercode 2003.
func (a *API) KfReceived(appid, openid, kfAccount, text string, at time.Time) error {
	return a.kfChat(appid, openid, kfAccount, text, opercodeReceived, at)
}

func (a *API) kfChat(appid, openid, kfAccount, text string, opercode int, at time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, err := a.kfOf(appid, kfAccount)
	if err != nil {
		return err
	}
	acct := a.accounts[appid]
	u := acct.users[openid]
	if u == nil || !u.subscribed {
		return fmt.Errorf("sim: %s does not follow %s", openid, appid)
	}
	if text == "" {
		return fmt.Errorf("sim: empty text")
	}
	if at.IsZero() {
		at = a.now()
	}
	if opercode == opercodeSent {
		body := fmt.Appendf(nil, `{"touser":%q,"msgtype":"text","text":{"content":%q}}`, openid, text)
		if len(u.received) >= maxReceivedKept {
			u.received = u.received[1:]
		}
		u.received = append(u.received, Received{MsgType: "text", Body: body, Time: at, KfAccount: k.account})
	}
	acct.records = append(acct.records, msgRecord{openid: openid, opercode: opercode, text: text, time: at, worker: k.account})
	return nil
}
