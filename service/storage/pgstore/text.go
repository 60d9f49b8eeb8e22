package pgstore

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/livestore-sync/livestore-sync/service/storage"
)

// ErrInvalidText is wrapped by the error of an operation given a string PostgreSQL's text cannot
// hold as it is: one that is not valid UTF-8 or that holds a NUL byte (U+0000). The engine refuses
// such strings rather than change them; the service refuses them from clients before.
var ErrInvalidText = errors.New("pgstore: PostgreSQL text holds only valid UTF-8 without NUL bytes")

// checkText returns an error wrapping ErrInvalidText when s cannot be stored as text.
func checkText(field, s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("%w: %s has a NUL byte at offset %d", ErrInvalidText, field, i)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidText, field)
	}
	return nil
}

// checkRecord checks every text field of r.
func checkRecord(i int, r *storage.Record) error {
	for _, f := range [...]struct{ name, s string }{
		{"name", r.Name}, {"args", r.Args}, {"client id", r.ClientID}, {"session id", r.SessionID},
	} {
		if err := checkText(fmt.Sprintf("event %d's %s", i, f.name), f.s); err != nil {
			return err
		}
	}
	return nil
}

// idHash is the key by which the engine finds a store: the SHA-256 of its id.
func idHash(storeID string) []byte {
	h := sha256.Sum256([]byte(storeID))
	return h[:]
}

// num is the text of an unsigned number, for a parameter cast ::text::numeric.
func num(v uint64) string { return strconv.FormatUint(v, 10) }

// parseNum parses the text of a numeric(20,0) column read as ::text.
func parseNum(column, s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("pgstore: column %s holds %q, not an unsigned 64-bit number: %w", column, s, err)
	}
	return v, nil
}
