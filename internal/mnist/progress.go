package mnist

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress is told every byte of one download and, at the end, whether it
// succeeded.
type progress interface {
	io.Writer
	finish(ok bool)
}

// newProgress picks how to show one download of total bytes (-1 if the
// server did not say): nothing, a redrawn bar on a terminal, or plain lines
// elsewhere, since a bar's carriage returns make a mess of log files.
func newProgress(w io.Writer, label string, total int64) progress {
	switch {
	case w == nil:
		return silentProgress{}
	case isTerminal(w):
		return newBarProgress(w, label, total)
	default:
		return newLineProgress(w, label, total)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

type silentProgress struct{}

func (silentProgress) Write(p []byte) (int, error) { return len(p), nil }
func (silentProgress) finish(bool)                 {}

type barProgress struct{ bar *progressbar.ProgressBar }

func newBarProgress(w io.Writer, label string, total int64) *barProgress {
	return &barProgress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("mnist: "+label),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

func (b *barProgress) Write(p []byte) (int, error) {
	// A progress display must never fail the download it reports on.
	_, _ = b.bar.Write(p)
	return len(p), nil
}

func (b *barProgress) finish(bool) {
	// A bar of known length completes itself (and prints its newline) when
	// full; otherwise leave it where it stopped and end its line.
	if !b.bar.IsFinished() {
		_ = b.bar.Exit()
	}
}

// lineProgress prints a line at the start, at every quarter (or every 4 MB
// when the size is unknown), and at the end.
type lineProgress struct {
	w           io.Writer
	label       string
	total, done int64
	next        int64 // print when done reaches this
	step        int64
}

func newLineProgress(w io.Writer, label string, total int64) *lineProgress {
	p := &lineProgress{w: w, label: label, total: total, step: 4 << 20}
	if total > 0 {
		p.step = (total + 3) / 4
		fmt.Fprintf(w, "mnist: downloading %s (%s)\n", label, formatBytes(total))
	} else {
		fmt.Fprintf(w, "mnist: downloading %s\n", label)
	}
	p.next = p.step
	return p
}

func (p *lineProgress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	// One line per write at most, however many steps it crossed, and none
	// at the very end: finish says "done" then.
	if p.done >= p.next && (p.total <= 0 || p.done < p.total) {
		p.line()
		for p.next <= p.done {
			p.next += p.step
		}
	}
	return len(b), nil
}

func (p *lineProgress) line() {
	if p.total > 0 {
		fmt.Fprintf(p.w, "mnist: %s: %3d%% (%s of %s)\n", p.label, 100*p.done/p.total, formatBytes(p.done), formatBytes(p.total))
		return
	}
	fmt.Fprintf(p.w, "mnist: %s: %s\n", p.label, formatBytes(p.done))
}

func (p *lineProgress) finish(ok bool) {
	if ok {
		fmt.Fprintf(p.w, "mnist: %s: done, %s\n", p.label, formatBytes(p.done))
		return
	}
	fmt.Fprintf(p.w, "mnist: %s: failed after %s\n", p.label, formatBytes(p.done))
}

// formatBytes writes n in decimal units, as download sizes usually are.
func formatBytes(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
