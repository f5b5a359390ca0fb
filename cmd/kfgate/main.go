// Command kfgate routes WeChat Official Account customer-service
// conversations to human agents. See the README for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version and revision are set at build time with -ldflags "-X main.version=…
// -X main.revision=…" (the image's build, which has no .git to read).
var (
	version  = "dev"
	revision = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Environ(), os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "kfgate:", err)
		os.Exit(1)
	}
}

const usage = `usage: kfgate <command> [flags]

commands:
  serve        run the gateway (--config FILE or KFGATE_CONFIG)
  migrate      apply the PostgreSQL migrations (postgres.url) and exit
  user add     add a person who signs in to the console (kfgate user add --role admin NAME)
  version      print the version
  healthcheck  exit 0 if the local gateway answers /healthz (for container health checks)
  sim          the WeChat simulator; "kfgate sim help" lists its commands
`

// run is kfgate without the process around it: arguments, environment and
// output are passed in, so tests run the real thing.
func run(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, getenv, environ, stderr)
	case "migrate":
		return migrateCommand(ctx, rest, getenv, environ, stdout, stderr)
	case "user":
		return userCommand(ctx, rest, getenv, environ, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "kfgate", versionString())
		return nil
	case "healthcheck":
		return healthcheck(ctx, rest, getenv, environ, stderr)
	case "sim":
		return simCommand(ctx, rest, getenv, environ, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func versionString() string {
	v := version
	rev := revision
	info, ok := debug.ReadBuildInfo()
	if ok && rev == "" {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	if len(rev) >= 12 {
		v += " (" + rev[:12] + ")"
	}
	if ok {
		v += " " + info.GoVersion
	}
	return v
}
