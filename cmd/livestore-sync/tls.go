package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, the TLS certificate files are checked for changes
// (a renewed certificate is picked up without a restart).
const certCheckInterval = 10 * time.Second

// certReloader serves the certificate of --tls-cert and --tls-key, reading the files again when
// their modification times change, so that renewals (cert-manager, certbot) need no restart.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	interval          time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	modTimes  [2]time.Time
	checkedAt time.Time
}

// newCertReloader loads the key pair, failing when it cannot be used.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, interval: certCheckInterval}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads the key pair and records the files' modification times.
func (r *certReloader) load() error {
	times, err := r.stat()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	r.cert, r.modTimes, r.checkedAt = &cert, times, time.Now()
	return nil
}

func (r *certReloader) stat() ([2]time.Time, error) {
	var times [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return times, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		times[i] = fi.ModTime()
	}
	return times, nil
}

// GetCertificate is tls.Config.GetCertificate: the current certificate, read again first when
// the files changed since the last check. A pair that fails to load is logged and the previous
// certificate kept (a renewal may write the two files one after the other).
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checkedAt) < r.interval {
		return r.cert, nil
	}
	r.checkedAt = time.Now()
	times, err := r.stat()
	if err != nil || times == r.modTimes {
		if err != nil {
			r.log.Warn("tls: checking the certificate files failed; keeping the current certificate", "err", err)
		}
		return r.cert, nil
	}
	if err := r.load(); err != nil {
		r.log.Warn("tls: loading the changed certificate failed; keeping the current one", "err", err)
		return r.cert, nil
	}
	r.log.Info("tls: certificate reloaded", "cert", r.certFile)
	return r.cert, nil
}
