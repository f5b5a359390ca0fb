package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// The board in a surge: more users wait than a page of the live list
// holds, and the board says so — the live sessions and the queue as the
// first 500 of how many there are, the counts per account as counted from
// those — rather than passing a page off as everything.
func TestBoardInASurge(t *testing.T) {
	e := newConsoleEnv(t)
	const users = 510 // nobody online: every one waits
	for i := range users {
		e.text(t, fmt.Sprintf("surge%04d", i), "在吗")
	}
	waitFor(t, "every user queued", func() bool {
		_, out := apiCall(t, e.base, "GET", "/api/v1/sessions?limit=1", consoleAdminToken, "")
		n, _ := out["queued"].(float64)
		return int(n) == users
	})
	admin := newTab(t, "admin")
	admin.signIn(e.base, "root", "root-password")
	admin.waitJS("the admin's navigation", `document.querySelector('nav a[href="#/board"]')`)
	admin.do(chromedp.Navigate(e.base + "/#/board"))
	for _, id := range []string{"b-live", "b-q"} {
		admin.waitJS(id+" says 500 of 510", fmt.Sprintf(`(() => { const s = document.getElementById(%q)?.textContent || '';
			return s.includes('500') && s.includes('510'); })()`, id))
	}
	admin.waitJS("the counts per account say they are from a page", `document.querySelector('p.partial')?.textContent.includes('510')`)
	if dir := os.Getenv("KFGATE_SCREENSHOTS"); dir != "" {
		admin.screenshot(filepath.Join(dir, "board-surge.png"), 1280, 800)
	}
}
