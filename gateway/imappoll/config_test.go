package imappoll

import "testing"

func TestParseAfter(t *testing.T) {
	check := func(in string, want afterAction, ok bool) {
		t.Helper()
		got, err := parseAfter(in)
		if (err == nil) != ok || got != want {
			t.Errorf("parseAfter(%q) = %+v, %v; want %+v, ok=%v", in, got, err, want, ok)
		}
	}
	check("seen", afterAction{kind: afterSeen}, true)
	check("delete", afterAction{kind: afterDelete}, true)
	check("move:Processed", afterAction{kind: afterMove, folder: "Processed"}, true)
	check("move:Support/Done", afterAction{kind: afterMove, folder: "Support/Done"}, true)
	check("move: ", afterAction{}, false)
	check("Seen", afterAction{}, false)
	check("", afterAction{}, false)
}

func TestDefaults(t *testing.T) {
	cfg := Config{}.withDefaults()
	if cfg.Folder != "INBOX" || cfg.PollInterval != DefaultPollInterval ||
		cfg.BatchSize != DefaultBatchSize || cfg.MaxMessageBytes != DefaultMaxMessageBytes {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:143": true, "[::1]:143": true, "localhost:143": true,
		"imap.example.com:993": false, "10.0.0.1:143": false, "nonsense": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}
