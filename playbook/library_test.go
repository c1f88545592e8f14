package playbook

import (
	"fmt"
	"github.com/guided-response/guided/internal/syncbuf"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/guided-response/guided/card"
)

type syncBuffer = syncbuf.Buffer

func TestLibraryReloads(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "test.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(good)
	var logs syncBuffer
	clock := time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)
	lib, err := NewLibrary(LibraryConfig{
		Dir: dir, CheckEvery: time.Minute,
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info}),
	})
	if err != nil {
		t.Fatal(err)
	}
	lib.now, lib.checked = func() time.Time { return clock }, clock
	inc := loadIncident(t, multiIncident)
	first := lib.Current()
	if cards := first.Generate(inc); len(cards) != 1 || cards[0].Title != "Isolate device ws-megan01.contoso.com" {
		t.Fatalf("cards %+v", cards)
	}

	// An edit shows once the check interval has passed.
	write(strings.Replace(strings.Replace(good, "version: 1.0.0", "version: 1.1.0", 1), "title: Isolate device", "title: Isolate the device", 1))
	clock = clock.Add(30 * time.Second)
	if lib.Current() != first {
		t.Error("reloaded before the check interval")
	}
	clock = clock.Add(31 * time.Second)
	second := lib.Current()
	if second == first || !strings.Contains(second.Version(), "test@1.1.0") || lib.LastError() != nil {
		t.Fatalf("not reloaded: %s, %v", second.Version(), lib.LastError())
	}
	if cards := second.Generate(inc); cards[0].Title != "Isolate the device ws-megan01.contoso.com" || cards[0].PlaybookVersion[:6] != "1.1.0+" {
		t.Errorf("cards after the edit %+v", cards)
	}
	// Cards generated before keep what they were made with.
	if cards := first.Generate(inc); cards[0].Title != "Isolate device ws-megan01.contoso.com" {
		t.Error("the old set changed")
	}

	// A bad edit keeps the last good set and reports the problem, once.
	write(strings.Replace(good, "action: device.isolate", "action: device.isolat", 1))
	clock = clock.Add(time.Minute)
	if lib.Current() != second {
		t.Error("a bad edit replaced the set")
	}
	err = lib.LastError()
	if err == nil || !strings.Contains(err.Error(), file+":10: rules[0].cards[0].action") {
		t.Fatalf("last error %v", err)
	}
	if err := lib.Reload(); err == nil {
		t.Error("Reload of a bad edit gave no error")
	}
	if n := strings.Count(logs.String(), "playbook edit refused"); n != 1 {
		t.Errorf("refusal logged %d times:\n%s", n, logs.String())
	}

	// Fixing the file clears the error.
	write(strings.Replace(good, "version: 1.0.0", "version: 1.2.0", 1))
	if err := lib.Reload(); err != nil || lib.LastError() != nil {
		t.Fatalf("reload of the fix: %v, %v", err, lib.LastError())
	}
	if v := lib.Current().Version(); !strings.Contains(v, "test@1.2.0") {
		t.Errorf("version %s", v)
	}
	if !strings.Contains(logs.String(), "playbooks reloaded") {
		t.Errorf("reload not logged:\n%s", logs.String())
	}
}

func TestLibraryFirstLoadMustSucceed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("id: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLibrary(LibraryConfig{Dir: dir}); err == nil {
		t.Error("a library started on bad playbooks")
	}
}

func TestLibraryDefault(t *testing.T) {
	lib, err := NewLibrary(LibraryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if lib.Current().Version() != defaultSet(t).Version() || lib.Reload() != nil {
		t.Error("library without a directory does not serve the default set")
	}
	cards := lib.Current().Generate(loadIncident(t, multiIncident))
	if len(findAction(cards, card.ActionDeviceIsolate)) != 1 {
		t.Error("no isolation card from the default library")
	}
}

func TestLibraryConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "test.yaml")
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	lib, err := NewLibrary(LibraryConfig{Dir: dir, CheckEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	inc := loadIncident(t, multiIncident)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if len(lib.Current().Generate(inc)) != 1 {
					t.Error("no card")
					return
				}
			}
		})
	}
	for i := range 20 {
		text := strings.Replace(good, "version: 1.0.0", fmt.Sprintf("version: 1.0.%d", i), 1)
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = lib.Reload()
	}
	wg.Wait()
}
