package bridge

import (
	"encoding/json"
	"strings"
)

// Effect RPC request ids (PROTOCOL §2.1).

// canonicalRequestID returns the request id in raw (a JSON string of a decimal integer, as the
// Effect RPC client sends its BigInt ids) in canonical form: no leading zeros, no "-0". It returns
// "" for anything else.
//
// The reference parses ids with BigInt; a non-numeric id throws inside its message loop and the
// socket never answers again (PROTOCOL §2.1). The bridge rejects such ids with a Defect instead.
func canonicalRequestID(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 64 {
		return ""
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return ""
		}
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return "0"
	}
	if neg {
		return "-" + digits
	}
	return digits
}
