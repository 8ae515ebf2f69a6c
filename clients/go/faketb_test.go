package matgto_test

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeTB records what the helper does to a test.
type fakeTB struct {
	testing.TB // not implemented: calling anything else panics
	mu         sync.Mutex
	name       string
	fatals     []string
	errors     []string
	logs       []string
	cleanups   []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Name() string { return f.name }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

// runFake runs body with a fake test named "TestFake" in a goroutine of its
// own (Fatalf ends it, as in a real test).
func runFake(body func(testing.TB)) *fakeTB {
	return runFakeNamed("TestFake", body)
}

// runFakeNamed is runFake for a test of the given name.
func runFakeNamed(name string, body func(testing.TB)) *fakeTB {
	f := &fakeTB{name: name}
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(f)
	}()
	<-done
	return f
}

// barrier lets n goroutines wait for each other once.
type barrier struct {
	mu      sync.Mutex
	waiting int
	n       int
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, all: make(chan struct{})} }

// wait returns true once n goroutines have called it, false after timeout.
func (b *barrier) wait(timeout time.Duration) bool {
	b.mu.Lock()
	b.waiting++
	if b.waiting == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return true
	case <-time.After(timeout):
		return false
	}
}

// testParallelism is `go test -parallel` (GOMAXPROCS unless set): how many
// t.Parallel() subtests run at once.
func testParallelism() int {
	if f := flag.Lookup("test.parallel"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if n, ok := g.Get().(int); ok && n > 0 {
				return n
			}
		}
	}
	return 1
}
