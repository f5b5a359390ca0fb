package config

import (
	"fmt"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/kfgate/kfgate/configs"
)

// LoadDemo loads the example configuration built into the binary
// (configs/kfgate.example.yaml), with the KFGATE_… variables of environ
// applied: `kfgate serve --demo` with no file. Its secrets are public.
func LoadDemo(getenv func(string) string, environ []string) (*Config, error) {
	var c Config
	fileErr := decodeData(configs.ExampleName+" (built in)", configs.Example, &c)
	return finish(&c, fileErr, getenv, environ)
}

// demoValues are the secrets, tokens and keys of the example
// configuration: published with kfgate, so anyone can sign callbacks or call
// the admin API with them.
var demoValues = sync.OnceValue(func() map[string]bool {
	var c Config
	if err := yaml.Unmarshal(configs.Example, &c); err != nil {
		panic("configs/kfgate.example.yaml does not decode: " + err.Error()) // a test loads it
	}
	m := map[string]bool{}
	for _, a := range c.Accounts {
		for _, v := range []string{a.Secret, a.Token, a.AESKey} {
			if v != "" {
				m[v] = true
			}
		}
	}
	for _, t := range c.Admin.Tokens {
		m[t] = true
	}
	for _, a := range c.Agents {
		if a.Password != "" {
			m[a.Password] = true
		}
	}
	return m
})

// RefuseDemo reports, one line per key, every secret, token or key that is
// one of the example configuration's public demo values, or nil. serve
// calls it unless it runs with --demo: a gateway on the internet with the
// example's admin token or account token is anyone's.
func (c Config) RefuseDemo() error {
	demo := demoValues()
	var p problems
	const why = "is the public demo value of " + configs.ExampleName + "; set your own (only `kfgate serve --demo` accepts it)"
	for i, a := range c.Accounts {
		for _, kv := range [][2]string{{"secret", a.Secret}, {"token", a.Token}, {"aes_key", a.AESKey}} {
			if demo[kv[1]] {
				p.add(fmt.Sprintf("accounts[%d].%s", i, kv[0]), "%s", why)
			}
		}
	}
	for i, t := range c.Admin.Tokens {
		if demo[t] {
			p.add(fmt.Sprintf("admin.tokens[%d]", i), "%s", why)
		}
	}
	for i, a := range c.Agents {
		if demo[a.Password] {
			p.add(fmt.Sprintf("agents[%d].password", i), "%s", why)
		}
	}
	return p.err()
}
