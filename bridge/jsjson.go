package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// How JavaScript prints values and JSON.parse errors, for error texts byte-identical to the
// reference server's (PROTOCOL §4.3).

// jsonSyntaxMessage words the error of parsing data as V8's JSON.parse does, which the reference
// sends, for the common cases: a truncated text ("Unexpected end of JSON input") and an unexpected
// character ("Unexpected token 'o', "nope" is not valid JSON", with at most 10 characters of
// context either side in texts of 21 characters or more). Other errors keep Go's wording.
func jsonSyntaxMessage(data []byte, err error) string {
	if err == nil {
		return "invalid JSON"
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return err.Error()
	}
	if se.Error() == "unexpected end of JSON input" {
		return "Unexpected end of JSON input"
	}
	pos := int(se.Offset) - 1
	if !strings.HasPrefix(se.Error(), "invalid character") || strings.Contains(se.Error(), "string literal") ||
		strings.Contains(se.Error(), "after top-level value") || pos < 0 || pos >= len(data) || !utf8.Valid(data) {
		return err.Error()
	}
	tok, _ := utf8.DecodeRune(data[pos:])
	if tok == '"' || tok == '-' || (tok >= '0' && tok <= '9') {
		return err.Error() // V8 says "Unexpected string/number in JSON at position …" here.
	}
	// V8 counts UTF-16 code units.
	src := utf16.Encode([]rune(string(data)))
	p := len(utf16.Encode([]rune(string(data[:pos]))))
	const ctx = 10
	quoted := func(a, b int) string { return `"` + string(utf16.Decode(src[a:b])) + `"` }
	var context string
	switch {
	case len(src) < 2*ctx+1:
		context = quoted(0, len(src))
	case p < ctx:
		context = quoted(0, p+ctx) + "..."
	case p < len(src)-ctx:
		context = "..." + quoted(p-ctx, p+ctx) + "..."
	default:
		context = "..." + quoted(p-ctx, len(src))
	}
	return "Unexpected token '" + string(tok) + "', " + context + " is not valid JSON"
}

// jsTemplateString renders a JSON value as `${v}` would in JavaScript, near enough for error
// messages and tag comparison: strings unquoted, missing values as missing.
func jsTemplateString(raw json.RawMessage, missing string) string {
	if raw == nil {
		return missing
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}
