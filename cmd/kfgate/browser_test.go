package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The console's tests drive a real Chromium (Debian's chromium package;
// .ci/run installs it). One browser per test process, started by the first
// test that needs it and shared: each test opens its own browser contexts
// (separate cookies, like separate browser profiles).

// chromiumPath is where Debian's package puts the browser.
const chromiumPath = "/usr/bin/chromium"

var chromium struct {
	once   sync.Once
	ctx    context.Context // the browser's; new contexts derive from it
	err    error
	cancel func()
}

// browserCtx returns the shared browser, starting it once.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	chromium.once.Do(func() {
		path := chromiumPath
		if _, err := os.Stat(path); err != nil {
			if p, lerr := exec.LookPath("chromium"); lerr == nil {
				path = p
			} else {
				chromium.err = fmt.Errorf("no Chromium at %s (apt-get install -y chromium; .ci/run does it): %w", chromiumPath, err)
				return
			}
		}
		dir, err := os.MkdirTemp("", "kfgate-chromium-")
		if err != nil {
			chromium.err = err
			return
		}
		// The machine's network is closed: nothing of Chromium's own may
		// try to reach out.
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("disable-quic", true),
			chromedp.NoFirstRun,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.UserDataDir(dir),
			chromedp.WindowSize(1280, 800),
		)
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		if err := chromedp.Do(bctx); err != nil {
			chromium.err = fmt.Errorf("start chromium: %w", err)
		}
		chromium.ctx = bctx
		chromium.cancel = func() {
			bcancel()
			acancel()
			_ = os.RemoveAll(dir)
		}
	})
	if chromium.err != nil {
		t.Fatal(chromium.err)
	}
	return chromium.ctx
}

// TestMain stops the shared browser after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if chromium.cancel != nil {
		chromium.cancel()
	}
	os.Exit(code)
}

// tab is one browser context (own cookies) with one page.
type tab struct {
	t    *testing.T
	ctx  context.Context
	name string
	// toasts holds what the page told its user (the console's toasts, in
	// order), for a failure's message: a timed-out wait says why the page
	// did not get there when the page said it.
	mu     *sync.Mutex
	toasts *[]string
}

// toastWatch reports every toast the console shows on the browser's
// console, where newTab's listener picks it up (toasts leave the page
// after 5 s, before a wait times out).
const toastWatch = `new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes)
  if (n.classList && n.classList.contains('toast')) console.info('kfgate-toast ' + n.className + ': ' + n.textContent);
}).observe(document, {childList: true, subtree: true});`

// newTab opens a fresh browser context; the page's uncaught exceptions
// and console errors fail the test.
func newTab(t *testing.T, name string) *tab {
	t.Helper()
	var mu sync.Mutex
	var problems, toasts []string
	ctx, cancel := chromedp.NewContext(browserCtx(t), chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, fmt.Sprintf("page exception: %s %v", ev.ExceptionDetails.Text, ev.ExceptionDetails.Exception))
		case *runtime.EventConsoleAPICalled:
			if len(ev.Args) == 1 && strings.HasPrefix(string(ev.Args[0].Value), `"kfgate-toast `) {
				toasts = append(toasts, strings.Trim(string(ev.Args[0].Value), `"`))
			}
			if ev.Type == "error" {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				problems = append(problems, "console error: "+strings.Join(parts, " "))
			}
		}
	}))
	t.Cleanup(cancel)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("%s: %s", name, p)
		}
	})
	tb := &tab{t: t, ctx: ctx, name: name, mu: &mu, toasts: &toasts}
	// The first run creates the page and binds its life to the context
	// it gets: this one, without a time limit.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open a page: %v", name, err)
	}
	tb.do(chromedp.EmulateViewport(1280, 800), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: toastWatch})
		return err
	}))
	return tb
}

// do runs the actions with a time limit.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: eval %q: %v", tb.name, expr, err)
	}
	return v
}

// waitJS waits (up to 30 s: the machines are shared) until the
// expression is truthy. Errors (a page between
// two documents) count as not yet.
func (tb *tab) waitJS(what, expr string) {
	tb.t.Helper()
	tb.waitJSFor(30*time.Second, what, expr)
}

// waitJSFor is waitJS with a time limit of d.
func (tb *tab) waitJSFor(d time.Duration, what, expr string) {
	tb.t.Helper()
	var last error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(15 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
	}
	tb.mu.Lock()
	said := strings.Join(*tb.toasts, "; ")
	tb.mu.Unlock()
	tb.t.Fatalf("%s: timed out waiting for %s (%v); the page's toasts so far: [%s]", tb.name, what, last, said)
}

// press sends a key as a person types it: one keyDown carrying the text
// (so that a handler's preventDefault cancels the text too, as in a real
// browser) and a keyUp.
func (tb *tab) press(key string, code int64, text string, mods int64) {
	tb.t.Helper()
	tb.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, p := range []input.DispatchKeyEventParams{
			{Type: input.DispatchKeyEventTypeKeyDown, Key: key, Code: key, Text: text, UnmodifiedText: text, WindowsVirtualKeyCode: code, NativeVirtualKeyCode: code, Modifiers: mods},
			{Type: input.DispatchKeyEventTypeKeyUp, Key: key, Code: key, WindowsVirtualKeyCode: code, NativeVirtualKeyCode: code, Modifiers: mods},
		} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, p); err != nil {
				return err
			}
		}
		return nil
	}))
}

// enter presses Enter (with Shift when shift).
func (tb *tab) enter(shift bool) {
	var mods int64
	if shift {
		mods = 8 // Shift, in the protocol's bit field
	}
	tb.press("Enter", 13, "\r", mods)
}

// clickJS clicks the element the selector finds when the click happens:
// for lists that re-render (a node found first may be gone by the click).
func (tb *tab) clickJS(sel string) {
	tb.t.Helper()
	tb.waitJS(sel, fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (el) el.click(); return !!el; })()`, sel))
}

// goOnline picks "online" in the desk's status menu (value and change
// event at once: the desk's resync may set the menu in between otherwise).
func (tb *tab) goOnline() {
	tb.t.Helper()
	tb.waitJS("the status menu", `(() => { const s = document.querySelector('select[name=status]'); if (!s) return false; s.value = 'online'; s.dispatchEvent(new Event('change')); return true; })()`)
}

// watchSockets makes every page of the tab keep its WebSockets in
// window.__sockets, so that a test can cut one as a network would.
func (tb *tab) watchSockets() {
	tb.t.Helper()
	const src = `(() => {
		const Native = window.WebSocket;
		window.__sockets = [];
		window.WebSocket = class extends Native {
			constructor(...args) { super(...args); window.__sockets.push(this); }
		};
	})();`
	tb.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return err
	}))
}

// signIn signs in through the form, pressing Enter in the password field.
func (tb *tab) signIn(base, user, pw string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), pw+kb.Enter))
}

// cookies returns the browser context's cookies for url.
func (tb *tab) cookies(url string) []*network.Cookie {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.Action[*network.GetCookiesResult](func(ctx context.Context, t *chromedp.Target) (*network.GetCookiesResult, error) {
		r, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
		return &r, err
	}))
	if err != nil {
		tb.t.Fatal(err)
	}
	return res.Cookies
}

// screenshot saves the page at the viewport's size as a PNG.
func (tb *tab) screenshot(path string, w, h int64) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
		tb.t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the layout and the next refresh settle
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}
