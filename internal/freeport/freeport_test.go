package freeport

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestRangeOutside(t *testing.T) {
	cases := []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"32768\t60999\n", 10000, 32767, true}, // Linux default: below is larger
		{"1024 49151", 49152, 65535, true},     // everything low is ephemeral: above
		{"15000 64000", 10000, 14999, true},    // a small stretch below still serves
		{"10800 64900", 0, 0, false},           // neither side has room
		{"10500 65000", 0, 0, false},
		{"", 0, 0, false},
		{"60999 32768", 0, 0, false},
		{"a b", 0, 0, false},
	}
	for _, c := range cases {
		lo, hi, ok := rangeOutside(c.in)
		if lo != c.lo || hi != c.hi || ok != c.ok {
			t.Errorf("rangeOutside(%q) = %d, %d, %v; want %d, %d, %v", c.in, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}

func TestTakeAvoidsEphemeralRangeAndHoldsThePort(t *testing.T) {
	lo, hi, ok := reservedRange()
	if !ok {
		t.Fatalf("this machine's %s gives no range outside the ephemeral ports", rangeFile)
	}
	set, err := TakeN(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range set {
		if p.Number < lo || p.Number > hi {
			t.Errorf("port %d outside %d-%d", p.Number, lo, hi)
		}
		if seen[p.Number] {
			t.Errorf("port %d handed out twice", p.Number)
		}
		seen[p.Number] = true
		if !bindable(p.Number) {
			t.Errorf("port %d is not free", p.Number)
		}
	}
	dir, err := lockDir()
	if err != nil {
		t.Fatal(err)
	}
	first := set[0].Number
	path := filepath.Join(dir, strconv.Itoa(first))
	if _, err := lock(path); !errors.Is(err, errBusy) {
		t.Fatalf("lock on a taken port: %v, want busy", err)
	}
	set.Release()
	set.Release() // twice is harmless
	release, err := lock(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release()
}

// TestReservationHoldsAcrossProcesses runs this test binary as a second process that takes a port: while
// it lives the port is busy here, and its exit frees it without any clean-up.
func TestReservationHoldsAcrossProcesses(t *testing.T) {
	if os.Getenv("FREEPORT_CHILD") == "1" {
		p, err := Take()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(p.Number)
		time.Sleep(time.Minute) // killed by the parent
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReservationHoldsAcrossProcesses$")
	cmd.Env = append(os.Environ(), "FREEPORT_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	port, err := strconv.Atoi(line[:len(line)-1])
	if err != nil {
		t.Fatalf("child printed %q", line)
	}
	dir, err := lockDir()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strconv.Itoa(port))
	if _, err := lock(path); !errors.Is(err, errBusy) {
		t.Fatalf("port %d held by the child: lock here gave %v, want busy", port, err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	release, err := lock(path)
	if err != nil {
		t.Fatalf("port %d after the child died: %v", port, err)
	}
	release()
}

func TestTakeFallsBackWithoutRange(t *testing.T) {
	saved := rangeFile
	rangeFile = filepath.Join(t.TempDir(), "missing")
	defer func() { rangeFile = saved }()
	p, err := Take()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if p.Number <= 0 || !bindable(p.Number) {
		t.Fatalf("fallback port %d not usable", p.Number)
	}
}

// TestPrivateDirRefusesPlantedPaths: a link or a directory others may write, planted where the lock
// directory goes, turns reservations off rather than have locks created through it.
func TestPrivateDirRefusesPlantedPaths(t *testing.T) {
	base := t.TempDir()
	dir, err := privateDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("lock directory %s: %v, %v", dir, fi.Mode(), err)
	}
	if again, err := privateDir(base); err != nil || again != dir {
		t.Fatalf("second call: %q, %v", again, err)
	}

	linked := t.TempDir()
	target := t.TempDir()
	if err := os.Symlink(target, filepath.Join(linked, filepath.Base(dir))); err != nil {
		t.Fatal(err)
	}
	if _, err := privateDir(linked); err == nil {
		t.Error("a planted symlink was taken as the lock directory")
	}

	open := t.TempDir()
	if err := os.Mkdir(filepath.Join(open, filepath.Base(dir)), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(open, filepath.Base(dir)), 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := privateDir(open); err == nil {
		t.Error("a world-writable directory was taken as the lock directory")
	}
}
