package mnist

import (
	"errors"
	"fmt"
	"strings"
)

// Problems a file can have. A *FileError carries exactly one of them, so
// callers tell cases apart with errors.Is and never by parsing messages.
var (
	ErrMissing       = errors.New("file missing")
	ErrCorrupt       = errors.New("corrupt gzip data")
	ErrTruncated     = errors.New("truncated")
	ErrTrailingData  = errors.New("unexpected data after the end")
	ErrBadMagic      = errors.New("bad magic number")
	ErrDims          = errors.New("bad dimensions")
	ErrCountMismatch = errors.New("image and label counts differ")
	ErrBadLabel      = errors.New("label out of range 0..9")
	ErrChecksum      = errors.New("sha256 mismatch")
	ErrTooLarge      = errors.New("download too large")
	ErrNotRegular    = errors.New("not a regular file")
)

// FileError says what is wrong with one file.
type FileError struct {
	Path    string // the file as the caller named it (or the destination of a download)
	Problem error  // one of the Err* sentinels above
	Detail  string // the specifics, e.g. "magic 0x00000801, want 0x00000803"
	Err     error  // the underlying cause (os, gzip), if any
}

func (e *FileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mnist: %s: %v", e.Path, e.Problem)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap exposes both the sentinel and the cause, so errors.Is works for
// ErrTruncated as well as for fs.ErrNotExist or context.Canceled.
func (e *FileError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Problem}
	}
	return []error{e.Problem, e.Err}
}

// Attempt is one source tried by a fetch and why it did not deliver.
type Attempt struct {
	Source Source
	Err    error
}

// FetchError is returned when no source could deliver every needed file.
type FetchError struct {
	Dir      string
	Missing  []string  // files still missing or bad in Dir
	Attempts []Attempt // every source tried, in order
}

func (e *FetchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mnist: could not fetch %s into %s", strings.Join(e.Missing, ", "), e.Dir)
	if len(e.Attempts) == 0 {
		b.WriteString(": no sources configured")
		return b.String()
	}
	b.WriteString(": every source failed:")
	for _, a := range e.Attempts {
		// One line per source, so a long URL in one does not hide the others.
		fmt.Fprintf(&b, "\n\t%v: %v", a.Source, a.Err)
	}
	return b.String()
}

// Unwrap lets errors.Is see why each source failed (ErrChecksum, a network error).
func (e *FetchError) Unwrap() []error {
	errs := make([]error, 0, len(e.Attempts))
	for _, a := range e.Attempts {
		errs = append(errs, a.Err)
	}
	return errs
}
