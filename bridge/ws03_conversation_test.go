package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// transcripts03Elsewhere are the 0.3.1 transcripts (testdata/transcripts03) that have no
// conversation script, because the capture shortened some of their frames or because they probe
// the original's edge cases, and the tests that check the same behaviour instead.
var transcripts03Elsewhere = map[string]string{
	"large-payload-20x100KB": "e2e/v0.3 (large payloads)",
	"live-pull-under-writes": "TestWS03PullUnderWrites, e2e/v0.3 (a pull while pushes land)",
	"pagination-2500":        "TestWS03PullPagesAndRemaining, e2e/v0.3 (2500 events)",
	"race-same-parent":       "e2e/v0.3 (races)",
	"unicode-nested-json":    "e2e/v0.3 (unicode and nested JSON)",
	"probe":                  "TestWS03Frames, TestWS03Routing, TestWS03AdminReset, TestMatchSyncRequest03",
}

// TestConversations03Coverage: every 0.3.1 transcript is replayed by a conversation script
// (testdata/conversations/v03-<name>, run by TestConversations) or covered by the tests named in
// transcripts03Elsewhere.
func TestConversations03Coverage(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/transcripts03/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no 0.3 transcripts: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		_, err := os.Stat(filepath.Join("testdata/conversations", "v03-"+name))
		_, elsewhere := transcripts03Elsewhere[name]
		switch {
		case err == nil && elsewhere:
			t.Errorf("%s has a script and is listed in transcripts03Elsewhere", name)
		case err != nil && !elsewhere:
			t.Errorf("transcript %s has no conversation script (testdata/extract03.py) and no other test", name)
		}
	}
}
