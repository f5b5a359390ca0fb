package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/term"

	"github.com/kfgate/kfgate/internal/agents"
	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/migrate"
	"github.com/kfgate/kfgate/internal/redisconn"
)

// stdin is where `kfgate user add` reads the password (tests replace it).
var stdin io.Reader = os.Stdin

const userUsage = `usage: kfgate user add [--role agent|supervisor|admin] [--accounts APPID,…] [--max-sessions N] [--config FILE] NAME

Adds a person who signs in to the console at / with NAME and a password read
from standard input (one line), or asked for when standard input is a
terminal. Typically the first admin: kfgate user add --role admin alice
`

// userCommand is `kfgate user add`: a person, with a password, in the
// records of the configured deployment (PostgreSQL, else Redis).
func userCommand(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprint(stderr, userUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, userUsage) }
	role := fs.String("role", "agent", "agent, supervisor or admin")
	accounts := fs.String("accounts", "", "appids the person serves, comma-separated (default: every configured account)")
	maxSessions := fs.Int("max-sessions", 5, "sessions served at once")
	// NAME may come before or after the flags.
	rest := args[1:]
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	cfg, err := loadConfig(fs, rest, getenv, environ)
	if err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 || name == "" {
		fs.Usage()
		return errors.New("user add: name one person")
	}
	if !kf.Role(*role).Valid() {
		return fmt.Errorf("--role must be agent, supervisor or admin")
	}
	if cfg.Redis.URL == "" && cfg.Redis.Sentinel.MasterName == "" && cfg.Postgres.URL == "" {
		return errors.New("the configuration keeps agents in the embedded Redis of the running serve, which this command cannot reach: declare people in the file (agents[].password) or create them with the API")
	}
	pw, err := readPassword(stderr)
	if err != nil {
		return err
	}
	if err := agents.CheckNewPassword(pw); err != nil {
		return err
	}

	rdb, err := redisconn.Open(ctx, redisOptions(cfg.Redis))
	if err != nil {
		return err
	}
	defer rdb.Close()
	var records agents.Records = agents.NewRedis(rdb, cfg.Redis.Prefix)
	if cfg.Postgres.URL != "" {
		if _, err := migrate.Up(ctx, cfg.Postgres.URL); err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		pool, err := pgxpool.New(ctx, cfg.Postgres.URL)
		if err != nil {
			return fmt.Errorf("postgres.url: %w", err)
		}
		defer pool.Close()
		records = agents.NewPostgres(pool)
	}
	eng, err := newEngine(cfg, rdb.Client, newLogger(cfg.Log, stderr))
	if err != nil {
		return err
	}
	appids := make([]string, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		appids[i] = a.AppID
	}
	serves := appids
	if *accounts != "" {
		serves = strings.Split(*accounts, ",")
	}
	team := agents.NewTeam(records, eng, appids)
	a, _, err := team.Create(ctx, kf.Agent{ID: name, Accounts: serves, MaxSessions: *maxSessions, Role: kf.Role(*role)})
	if err != nil {
		return err
	}
	if err := team.SetPassword(ctx, a.ID, pw); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s (%s); they sign in at / with that password\n", a.ID, a.Role)
	return nil
}

// readPassword reads one line from stdin, without echo when it is a
// terminal.
func readPassword(stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
