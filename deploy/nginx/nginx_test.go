// Package nginx_test checks deploy/nginx/kfgate.conf: that nginx loads it
// (`nginx -t`, with a self-signed certificate made for the test) and that
// the promises its comments make hold — the callback retry budget inside
// WeChat's 5 seconds, no query strings in the access logs, keepalive to the
// replicas, and the API off the public name.
//
// These tests need the nginx binary (Debian's package `nginx`; .ci/run
// installs it). Without it they fail, as a test without Redis does.
package nginx_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const confFile = "kfgate.conf"

// WeChat drops a callback's connection after 5 s and delivers again.
const wechatBudget = 5 * time.Second

func TestNginxAcceptsTheConfig(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx" // not on a non-root PATH
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("nginx is not installed: apt-get install nginx (.ci/run does)")
		}
	}
	dir := t.TempDir()
	conf, err := os.ReadFile(confFile)
	if err != nil {
		t.Fatal(err)
	}
	// The certificates and the log go to the test's directory; the rest of
	// the file is loaded as it is.
	text := string(conf)
	for _, name := range []string{"kf.example.com", "desk.example.com"} {
		crt, key := selfSigned(t, dir, name)
		text = strings.ReplaceAll(text, "/etc/nginx/tls/"+name+".crt", crt)
		text = strings.ReplaceAll(text, "/etc/nginx/tls/"+name+".key", key)
	}
	text = strings.ReplaceAll(text, "/var/log/nginx/", dir+"/")
	if strings.Contains(text, "/etc/nginx/tls/") {
		t.Fatalf("%s names a certificate the test does not make", confFile)
	}
	if err := os.WriteFile(filepath.Join(dir, "kfgate.conf"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	// The frame of Debian's /etc/nginx/nginx.conf: kfgate.conf sits in http {}.
	main := `pid ` + dir + `/nginx.pid;
error_log ` + dir + `/error.log;
events {}
http {
    access_log ` + dir + `/access.log;
    include ` + dir + `/kfgate.conf;
}
`
	mainPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(mainPath, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-p", dir, "-c", mainPath).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	for _, want := range []string{"syntax is ok", "test is successful"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nginx -t says no %q:\n%s", want, out)
		}
	}
	// A warning today (a deprecated directive) is an error in a later nginx.
	if strings.Contains(string(out), "[warn]") || strings.Contains(string(out), "[emerg]") {
		t.Errorf("nginx -t warns:\n%s", out)
	}
	v, _ := exec.Command(bin, "-v").CombinedOutput()
	t.Logf("%s", strings.TrimSpace(string(v)))
}

// selfSigned writes a certificate and key for name into dir.
func selfSigned(t *testing.T, dir, name string) (crtPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	crtPath, keyPath = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return crtPath, keyPath
}
