package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/kfgate/kfgate/internal/config"
	"github.com/kfgate/kfgate/internal/sim"
)

const simUsage = `usage: kfgate sim <command> [flags]

commands (the simulated users of an official account, posting to a kfgate as WeChat does):
  send   post one text message and print kfgate's answer
  load   post callbacks from many users and report callbacks/s and latency

command (WeChat's side of the customer-service APIs, for kfgate to call):
  api    serve a fake api.weixin.qq.com on --listen (default 127.0.0.1:9090)
         for every account of --config (appid, secret): access tokens,
         custom/send with the 48-hour window, typing, kf accounts and
         sessions; /sim/ endpoints to inspect it and inject faults

The account (appid, token, aes_key) comes from --config and --appid; --url
defaults to the config's listen address on 127.0.0.1.
`

func simCommand(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprint(stdout, simUsage)
		return nil
	}
	fs := flag.NewFlagSet("sim "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	appid := fs.String("appid", "", "the account's appid (default: the first account)")
	target := fs.String("url", "", "base URL of kfgate (default http://127.0.0.1:<listen port>)")
	plain := fs.Bool("plain", false, "plaintext mode even when the account has an aes_key")
	openid := fs.String("openid", "o_sim_user_000001", "send: the user")
	text := fs.String("text", "你好", "send: the message")
	users := fs.Int("users", 1000, "load: distinct users")
	rate := fs.Float64("rate", 0, "load: callbacks per second (open loop); 0 = as fast as the connections go")
	conns := fs.Int("connections", 64, "load: concurrent connections")
	duration := fs.Duration("duration", 10*time.Second, "load: how long to send")
	agents := fs.Int("agents", 0, "load: connect this many simulated agents (created with the admin API) and report the time from a callback to an agent receiving the message")
	dump := fs.Int("dump", 0, "load: print this many prepared callbacks (path TAB body per line) for wrk and exit")
	messages := fs.Int("messages", 0, "load: send this many callbacks as fast as the connections go, then stop (instead of --rate and --duration)")
	listen := fs.String("listen", "127.0.0.1:9090", "api: address to serve the fake WeChat API on")
	api := fs.String("api", "", "send, load: base URL of `kfgate sim api`: the users' messages open their reply windows there (and, for send, what the user receives within --wait is printed)")
	wait := fs.Duration("wait", 3*time.Second, "send: how long to wait for what kfgate sends the user (with --api)")
	cfg, err := loadConfig(fs, args[1:], getenv, environ)
	if err != nil {
		return err
	}
	if args[0] == "api" {
		return simAPI(ctx, cfg, *listen, stderr)
	}
	acct := cfg.Accounts[0]
	if *appid != "" {
		a, ok := cfg.Account(*appid)
		if !ok {
			return fmt.Errorf("no account %q in the configuration", *appid)
		}
		acct = a
	}
	if *target == "" {
		_, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return err
		}
		*target = "http://127.0.0.1:" + port
	}
	safe := acct.AESKey != "" && !*plain
	p, err := sim.NewPoster(*target, sim.Account{AppID: acct.AppID, Token: acct.Token, AESKey: acct.AESKey}, safe, nil)
	if err != nil {
		return err
	}

	switch args[0] {
	case "send":
		if *api != "" {
			// WeChat knows when a user writes: tell the simulated WeChat,
			// so that kfgate's answers fall inside the user's window.
			if err := sim.Interact(ctx, *api, acct.AppID, *openid); err != nil {
				return err
			}
		}
		pr := p.Prepare(sim.TextXML("gh_"+acct.AppID, *openid, time.Now().Unix(), *text, time.Now().UnixNano()))
		mode := "plaintext"
		if safe {
			mode = "safe"
		}
		fmt.Fprintf(stdout, "POST %s (%s mode)\n", pr.URL, mode)
		status, body, err := p.Post(ctx, pr)
		if err != nil {
			return err
		}
		reply, err := p.DecryptReply(body)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d %s\n", status, reply)
		if status != 200 {
			return fmt.Errorf("kfgate answered %d", status)
		}
		if *api != "" {
			got, err := sim.AwaitReceived(ctx, *api, acct.AppID, *openid, *wait)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				fmt.Fprintf(stdout, "the user received nothing within %s\n", *wait)
			}
			for _, r := range got {
				fmt.Fprintf(stdout, "the user received (%s): %s\n", r.MsgType, r.Body)
			}
		}
		return nil
	case "load":
		if *dump > 0 {
			return sim.Dump(stdout, p, *users, *dump)
		}
		var pool *sim.Agents
		if *agents > 0 {
			if len(cfg.Admin.Tokens) == 0 {
				return fmt.Errorf("--agents needs an admin token in the configuration (admin.tokens)")
			}
			if pool, err = sim.StartAgents(ctx, *target, cfg.Admin.Tokens[0], []string{acct.AppID}, *agents); err != nil {
				return err
			}
			defer pool.Close()
		}
		if *api != "" {
			// Before the clock starts: real WeChat opens each window as
			// the user writes, at no cost to kfgate.
			if err := sim.OpenWindows(ctx, *api, acct.AppID, *users, *conns); err != nil {
				return err
			}
		}
		rep, err := sim.Load(ctx, p, sim.LoadOptions{Users: *users, Rate: *rate, Connections: *conns, Duration: *duration,
			Messages: *messages, Agents: pool})
		fmt.Fprintln(stdout, rep)
		return err
	default:
		fmt.Fprint(stderr, simUsage)
		return fmt.Errorf("unknown sim command %q", args[0])
	}
}

// simAPI serves the fake WeChat API for every account of cfg on listen
// until ctx ends.
func simAPI(ctx context.Context, cfg *config.Config, listen string, stderr io.Writer) error {
	log := newLogger(cfg.Log, stderr)
	secrets := make(map[string]string, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		secrets[a.AppID] = a.Secret
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("sim api listening", "addr", ln.Addr().String(), "accounts", len(secrets))
	// No load balancer in front of the simulator: it stops at once.
	return serveHTTP(ctx, ln, sim.NewAPI(sim.APIOptions{Accounts: secrets}), log, shutdown{draining: new(atomic.Bool), timeout: 5 * time.Second})
}
