package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/kfgate/kfgate/internal/config"
)

// healthcheck asks the gateway on this machine for /healthz; the
// container's HEALTHCHECK runs it, since the image has no curl. It needs
// only the port: a container running `serve --demo` has no file, and then
// the port is KFGATE_LISTEN's or the default's.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, environ []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := cmp.Or(getenv("KFGATE_LISTEN"), config.DefaultListen)
	cfg, err := loadConfig(fs, args, getenv, environ)
	switch {
	case err == nil:
		listen = cfg.Listen
	case errors.Is(err, flag.ErrHelp):
		return err
	case !errors.Is(err, errNoConfig) && !errors.Is(err, errNoConfigFile):
		return err
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %s", resp.Status)
	}
	return nil
}
