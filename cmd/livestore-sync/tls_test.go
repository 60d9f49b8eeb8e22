package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1/syncv1connect"
)

// writeCert writes a self-signed certificate for 127.0.0.1 named cn, and its key, into dir and
// returns the files and the certificate.
func writeCert(t *testing.T, dir, cn string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(der)
	return certFile, keyFile, parsed
}

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, first := writeCert(t, dir, "first")
	var logs bytes.Buffer
	r, err := newCertReloader(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.interval = 0 // check the files on every handshake
	served := func() string {
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		return leaf.Subject.CommonName
	}
	if got := served(); got != first.Subject.CommonName {
		t.Fatalf("serves %q, want %q", got, first.Subject.CommonName)
	}
	later := time.Now().Add(time.Minute)
	bump := func() { // a renewal writes files with newer modification times
		later = later.Add(time.Minute)
		os.Chtimes(certFile, later, later)
		os.Chtimes(keyFile, later, later)
	}

	writeCert(t, dir, "renewed")
	bump()
	if got := served(); got != "renewed" {
		t.Fatalf("after a renewal serves %q, want renewed", got)
	}
	os.WriteFile(keyFile, []byte("half-written"), 0o600)
	bump()
	if got := served(); got != "renewed" {
		t.Fatalf("with a broken key file serves %q, want the previous certificate", got)
	}
	if !strings.Contains(logs.String(), "keeping the current one") {
		t.Fatalf("the failed reload is not logged:\n%s", logs.String())
	}
	if _, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a broken key pair was accepted at start")
	}
}

// TestServeTLS runs the binary with --tls-cert and --tls-key: Connect over HTTP/1.1 and HTTP/2,
// gRPC (HTTP/2 by ALPN) and LiveStore's WebSocket (wss) all work, with the certificate given.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, cert := writeCert(t, t.TempDir(), "livestore-sync-test")
	srv := startServer(t, t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile)
	url := strings.Replace(srv.url, "http://", "https://", 1)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	h2 := &http.Client{Transport: tracked(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true})}
	h1 := &http.Client{Transport: tracked(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots},
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}})}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for name, client := range map[string]syncv1connect.SyncServiceClient{
		"connect over HTTP/1.1": syncv1connect.NewSyncServiceClient(h1, url),
		"gRPC over HTTP/2":      syncv1connect.NewSyncServiceClient(h2, url, connect.WithGRPC()),
	} {
		if _, err := client.Ping(ctx, connect.NewRequest(&syncv1.PingRequest{StoreId: "tls"})); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	ws, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(url, "https")+"/?storeId=tls&transport=ws",
		&websocket.DialOptions{HTTPClient: h1})
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"_tag":"Ping"}`)); err != nil {
		t.Fatal(err)
	}
	if _, data, err := ws.Read(ctx); err != nil || string(data) != `{"_tag":"Pong"}` {
		t.Fatalf("wss ping: %s %v", data, err)
	}
	if res, err := http.Get(srv.url + "/healthz"); err == nil {
		res.Body.Close() // Go's TLS server answers plain HTTP with a 400
		if res.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on a TLS server")
		}
	}
	if !strings.Contains(srv.stderr.String(), `websocket="wss://`) {
		t.Errorf("the start line does not give the wss:// URL:\n%s", srv.stderr)
	}
}
