package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// The people page's WeChat kf accounts in a real browser: the admin adds a
// kf account (no agent yet, which the sync says), creates an agent with
// that kf account (now linked), invites the WeChat user who binds it, sees
// it bound and online, renames it, sets its avatar and deletes it (the sync then
// names the agent whose kf account is gone). WeChat (the simulator) holds
// each change.
func TestConsoleKfAccounts(t *testing.T) {
	e := newConsoleEnv(t)
	const kfAcct = "ann@gh_console"
	row := fmt.Sprintf(`tr[data-kf=%q]`, kfAcct)
	kfList := func() []any {
		_, out := apiCall(t, e.base, "GET", "/api/v1/accounts/"+testAppID+"/kf", consoleAdminToken, "")
		list, _ := out["kf_accounts"].([]any)
		return list
	}

	admin := newTab(t, "admin")
	admin.signIn(e.base, "root", "root-password")
	admin.waitJS("the admin's navigation", `document.querySelector('nav a[href="#/people"]')`)
	admin.do(chromedp.Navigate(e.base + "/#/people"))
	admin.waitJS("the kf section", `document.querySelector('section.kf select option')`)
	admin.waitJS("no kf accounts yet", `document.querySelector('section.kf tbody').textContent.includes('微信中还没有客服账号')`)

	// Add one: listed, without an agent; the sync says so.
	admin.do(
		chromedp.SetValue(chromedp.CSS(`form.kf-add input[name=kf_account]`), kfAcct),
		chromedp.SetValue(chromedp.CSS(`form.kf-add input[name=nickname]`), "小安"),
		chromedp.Click(chromedp.CSS(`form.kf-add button[type=submit]`)))
	admin.waitJS("the kf account's row", `document.querySelector('`+row+` .kf-agent')?.textContent === '未关联坐席'`)
	admin.waitJS("the sync's unlinked kf account", `document.querySelector('.kf-sync').textContent.includes('ann@gh_console 没有对应的 kfgate 坐席')`)

	// An agent with that kf account: linked.
	admin.do(
		chromedp.SetValue(chromedp.CSS(`form.create input[name=id]`), "ann"),
		chromedp.SetValue(chromedp.CSS(`form.create input[name=name]`), "小安"),
		chromedp.SetValue(chromedp.CSS(`form.create input[name=accounts]`), testAppID),
		chromedp.SetValue(chromedp.CSS(`form.create input[name=kf_account]`), kfAcct),
		chromedp.Click(chromedp.CSS(`form.create button[type=submit]`)))
	admin.waitJS("ann in the people table with her kf account", `document.querySelector('tr[data-agent=ann] input[name=kf_account]')?.value === 'ann@gh_console'`)
	admin.waitJS("the kf account linked to ann", `document.querySelector('`+row+` .kf-agent')?.textContent === 'ann'`)
	admin.waitJS("the sync agreeing", `document.querySelector('.kf-sync').textContent.includes('微信与 kfgate 一致')`)

	// Invite the WeChat user who binds it (the prompt answered);
	// WeChat waits for them to accept.
	admin.waitJS("the invitation", `(() => { window.prompt = () => 'ann_wechat_01'; document.querySelector('`+row+` .row-actions button:nth-of-type(2)').click(); return true; })()`)
	admin.waitJS("the pending invitation", `document.querySelector('`+row+`').textContent.includes('已邀请 ann_wechat_01')`)

	// Bound and online in WeChat: shown after the next load (the
	// account's menu reloads).
	if err := e.wechat.SetKfOnline(testAppID, kfAcct, true); err != nil {
		t.Fatal(err)
	}
	admin.waitJS("a reload", `(() => { const s = document.querySelector('section.kf select'); s.dispatchEvent(new Event('change')); return true; })()`)
	admin.waitJS("the kf account online and bound", `document.querySelector('`+row+` .dot.online') && document.querySelector('`+row+`').textContent.includes('kfwx_ann')`)

	// Rename: WeChat has the new nickname, and the sync shows it differs
	// from the agent's name.
	admin.waitJS("the nickname changed", `(() => { const i = document.querySelector('`+row+` input[aria-label="昵称"]'); i.value = '安安'; i.dispatchEvent(new Event('change')); return true; })()`)
	admin.waitJS("the sync's nickname difference", `document.querySelector('.kf-sync').textContent.includes('在微信中叫“安安”')`)
	if l := kfList(); len(l) != 1 || l[0].(map[string]any)["nickname"] != "安安" {
		t.Errorf("kf accounts after the rename: %v", l)
	}

	// The avatar, from a file.
	jpeg := filepath.Join(t.TempDir(), "ann.jpg")
	if err := os.WriteFile(jpeg, []byte("\xff\xd8\xff\xe0 a face\xff\xd9"), 0o644); err != nil {
		t.Fatal(err)
	}
	admin.do(chromedp.SetUploadFiles(chromedp.CSS(row+` input[type=file]`), []string{jpeg}))
	admin.waitJS("the avatar mark", `document.querySelector('`+row+` .kf-avatar')`)

	if shots := os.Getenv("KFGATE_SCREENSHOTS"); shots != "" {
		admin.screenshot(filepath.Join(shots, "people-kf-wide.png"), 1280, 1000)
		admin.screenshot(filepath.Join(shots, "people-kf-narrow.png"), 390, 1400)
	}

	// Delete it (the confirmation answered): gone from WeChat; the sync
	// names ann, whose kf account no longer exists.
	admin.waitJS("the deletion", `(() => { window.confirm = () => true; document.querySelector('`+row+` button.danger').click(); return true; })()`)
	admin.waitJS("the row gone", `!document.querySelector('`+row+`')`)
	admin.waitJS("the sync's missing kf account", `document.querySelector('.kf-sync').textContent.includes('ann 的客服账号 ann@gh_console 在微信中不存在')`)
	if l := kfList(); len(l) != 0 {
		t.Errorf("kf accounts after the deletion: %v", l)
	}
}
