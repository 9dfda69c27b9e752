package backend

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Opener starts a backend, or says why it cannot: the error lists what was
// looked for, so that the user knows what is missing.
type Opener func() (Backend, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Opener{}
)

// Register makes a backend available by name; backends call it from init.
func Register(name string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[name] = open
}

// Names lists the registered backends, sorted.
func Names() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrUnavailable wraps every "this backend cannot run here" error.
var ErrUnavailable = errors.New("backend unavailable")

// autoOrder is the preference of `auto`: the first that opens wins.
var autoOrder = []string{"cuda", "cpu"}

// Open starts the named backend. "auto" tries cuda, then cpu, and returns a
// one-line note saying which it chose and why.
func Open(name string) (b Backend, note string, err error) {
	if name != "auto" {
		b, err := open(name)
		return b, "", err
	}
	var skipped []string
	for _, n := range autoOrder {
		b, err := open(n)
		if err == nil {
			if len(skipped) == 0 {
				return b, fmt.Sprintf("device auto: using %s", n), nil
			}
			return b, fmt.Sprintf("device auto: using %s (%s)", n, strings.Join(skipped, "; ")), nil
		}
		skipped = append(skipped, err.Error())
	}
	return nil, "", fmt.Errorf("device auto: no backend could start: %s", strings.Join(skipped, "; "))
}

func open(name string) (Backend, error) {
	registryMu.Lock()
	opener, ok := registry[name]
	registryMu.Unlock()
	if !ok {
		if slices.Contains(autoOrder, name) {
			return nil, fmt.Errorf("%s: not available in this build: %w", name, ErrUnavailable)
		}
		return nil, fmt.Errorf("unknown device %q (known: auto, %s)", name, strings.Join(Names(), ", "))
	}
	return opener()
}
