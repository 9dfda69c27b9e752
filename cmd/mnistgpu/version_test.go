package main

import (
	"runtime/debug"
	"testing"
)

func TestDescribeBuild(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, c := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"go install @tag", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0 go1.26.0"},
		{"go install @latest between tags", debug.BuildInfo{GoVersion: "go1.26.0",
			Main: debug.Module{Version: "v0.0.0-20261204120000-0123456789ab"}}, "v0.0.0-20261204120000-0123456789ab go1.26.0"},
		{"clone with vcs stamping", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-12-04T12:00:00Z", "vcs.modified", "true")},
			"(devel) 0123456789ab+dirty 2026-12-04T12:00:00Z go1.26.0"},
		{"clone without vcs stamping", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, "(devel) go1.26.0"},
		{"no version at all", debug.BuildInfo{GoVersion: "go1.26.0"}, "(devel) go1.26.0"},
	} {
		if got := describeBuild(&c.info); got != c.want {
			t.Errorf("%s: describeBuild = %q, want %q", c.name, got, c.want)
		}
	}
}
