package main

import (
	"runtime/debug"
)

// version is the module version the binary was built from: a tag such as
// v1.2.0 for `go install …@v1.2.0`, a pseudo-version for `@latest` between
// tags, or, for a build from a clone, "(devel)" with the commit and its date
// that Go stamps into the binary (and "+dirty" for uncommitted changes).
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown: built without module information)"
	}
	return describeBuild(info)
}

func describeBuild(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var revision, when, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if revision != "" && v == "(devel)" {
		if len(revision) > 12 {
			revision = revision[:12]
		}
		v += " " + revision + dirty
		if when != "" {
			v += " " + when
		}
	}
	return v + " " + info.GoVersion
}
