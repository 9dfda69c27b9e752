package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mnistgpu/mnistgpu/internal/benchreport"
)

// The output-folder policy, as Keras and Lightning users expect it: a run
// never writes into a folder that holds another run's files (it refuses, or
// --overwrite replaces the folder whole), default names are unique even for
// runs started in the same second, and the folder is known to be writable
// before any data is loaded or any step trained.

// runFiles are the names a train run writes into its folder.
var runFiles = []string{"metrics.csv", "class_accuracy.csv", "confusion_matrix.csv",
	"loss_curves.png", "class_accuracy.png", "summary.json", "model.ckpt"}

// outDir is a prepared output folder, claimed by this run.
type outDir struct {
	path    string
	created bool // by this run, so it may remove it again while empty
	// replaced holds, beside path, the folder --overwrite replaces, until
	// this run has written into path: a run that fails or is stopped before
	// that gives it back rather than leave the user with neither run.
	replaced string
}

// inUse marks a folder a run has claimed. It is created with O_EXCL after
// the folder was seen empty, so of two runs started at once on one --out
// exactly one gets it; the other sees it and refuses. A run killed with
// SIGKILL leaves it behind, and --overwrite removes it like any output.
const inUse = ".mnistgpu-run-in-progress"

// release drops the claim, and takes back a folder this run created and
// never wrote to (a run that failed or was stopped before measuring
// anything). A folder the user made is left alone, and a folder with files
// cannot be removed.
func (d outDir) release() {
	_ = os.Remove(filepath.Join(d.path, inUse))
	d.takeBack()
}

// takeBack removes the folder if this run created it and it is still
// empty, and then gives back the folder it replaced; once the run has
// written into it, the replaced folder is deleted instead.
func (d outDir) takeBack() {
	if !d.created {
		return
	}
	emptied := os.Remove(d.path) == nil
	switch {
	case d.replaced == "":
	case emptied:
		_ = os.Rename(d.replaced, d.path)
	default:
		_ = os.RemoveAll(d.replaced)
	}
}

// claim creates the in-use marker, or says which run holds the folder.
func (d outDir) claim() error {
	f, err := os.OpenFile(filepath.Join(d.path, inUse), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("output folder %s is in use by another run started at the same time; choose another --out", d.path)
	}
	if err != nil {
		return fmt.Errorf("output folder %s is not writable: %w", d.path, err)
	}
	_, err = fmt.Fprintf(f, "pid %d\n", os.Getpid())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("output folder %s cannot take a file: %w", d.path, err)
	}
	return nil
}

// defaultRunName is the default folder name's stem, e.g. 20261204-181500-k3-cpu.
func defaultRunName(now time.Time, what string) string {
	return now.Format("20060102-150405") + "-" + what
}

// prepareOut makes the output folder ready for a new run. An empty out is
// a fresh folder under runs/ named from stem; an existing folder must be
// empty, or, with overwrite, hold nothing but a run's outputs, which are
// then removed. Either way the folder is then checked to take a file.
func prepareOut(out, stem string, overwrite bool) (outDir, error) {
	if out == "" {
		path, err := newRunDir("runs", stem)
		if err != nil {
			return outDir{}, fmt.Errorf("output folder: %w", err)
		}
		return ready(outDir{path: path, created: true})
	}
	d := outDir{path: out}
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(out, 0o755); err != nil {
			return outDir{}, fmt.Errorf("output folder: %w", err)
		}
		d.created = true
	case err != nil:
		return outDir{}, fmt.Errorf("output folder: %w", err)
	case len(entries) > 0 && !overwrite && slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == inUse }):
		return outDir{}, fmt.Errorf("output folder %s is in use by another run (if that run was killed, --overwrite replaces the folder)", out)
	case len(entries) > 0 && !overwrite:
		return outDir{}, fmt.Errorf("output folder %s already holds %s; choose another --out, or add --overwrite to replace that folder whole", out, listNames(entries))
	case len(entries) > 0:
		if stray := notRunOutput(out); stray != "" {
			return outDir{}, fmt.Errorf("--overwrite: %s holds %s, which no run writes; it is not replaced (remove or move it yourself)", out, stray)
		}
		// Moved aside, not deleted: see outDir.replaced. A rename also
		// fails whole where RemoveAll would have deleted part (a mount point).
		clean := filepath.Clean(out)
		aside := filepath.Join(filepath.Dir(clean), fmt.Sprintf(".%s.replaced-%d", filepath.Base(clean), os.Getpid()))
		if err := os.Rename(out, aside); err != nil {
			return outDir{}, fmt.Errorf("--overwrite: %w", err)
		}
		if err := os.Mkdir(out, 0o755); err != nil {
			_ = os.Rename(aside, out)
			return outDir{}, fmt.Errorf("--overwrite: %w", err)
		}
		d.created, d.replaced = true, aside
	}
	return ready(d)
}

// prepareResume claims the folder of the run a --resume continues: it
// holds that run's outputs, which the resumed run replaces; anything no run
// writes is refused, as for --overwrite (resume.go).
func prepareResume(dir string) (outDir, error) {
	if marker, err := os.ReadFile(filepath.Join(dir, inUse)); err == nil {
		// A run killed (SIGKILL, a crash, a lost machine) leaves its claim:
		// the case --checkpoint-every is for. Its process is gone; a live
		// one still holds the folder.
		var pid int
		if _, err := fmt.Sscanf(string(marker), "pid %d", &pid); err == nil && processAlive(pid) {
			return outDir{}, fmt.Errorf("--resume: the run's folder %s is in use by process %d", dir, pid)
		}
		if err := os.Remove(filepath.Join(dir, inUse)); err != nil {
			return outDir{}, fmt.Errorf("--resume: %w", err)
		}
		// And the temporary files of the writes it was killed in.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if isTemp(e.Name()) && !e.IsDir() {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	if stray := notRunOutput(dir); stray != "" {
		return outDir{}, fmt.Errorf("--resume: %s holds %s, which no run writes; move it away to continue the run there", dir, stray)
	}
	return ready(outDir{path: dir})
}

// ready claims an empty folder and checks that it takes a file.
func ready(d outDir) (outDir, error) {
	if err := d.claim(); err != nil {
		d.takeBack()
		return outDir{}, err
	}
	if err := checkWritable(d.path); err != nil {
		d.release()
		return outDir{}, err
	}
	return d, nil
}

// newRunDir creates parent/stem, or parent/stem-2, -3, ... when that
// exists: Mkdir fails on an existing folder, so two runs started in the
// same second, even at once, never share one.
func newRunDir(parent, stem string) (string, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	for i := 1; i <= 1000; i++ {
		name := stem
		if i > 1 {
			name = fmt.Sprintf("%s-%d", stem, i)
		}
		path := filepath.Join(parent, name)
		err := os.Mkdir(path, 0o755)
		if err == nil {
			return path, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("%s: %s-2 … %s-1000 all exist", parent, stem, stem)
}

// checkWritable writes, syncs and removes a small file, so that a read-only
// or full disk stops the run now rather than after training.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("output folder %s is not writable: %w", dir, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("output folder %s cannot take a file: %w", dir, err)
	}
	return nil
}

// notRunOutput names the first entry of dir (or of a bench run's folder in
// it) that no train or bench run writes, or "" when there is none.
func notRunOutput(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return dir
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir() && isRunDirName(name):
			if stray := notRunOutput(filepath.Join(dir, name)); stray != "" {
				return filepath.Join(name, stray)
			}
		case e.IsDir():
			return name + "/"
		case slices.Contains(runFiles, name), slices.Contains(benchreport.Files, name), isTemp(name):
		default:
			return name
		}
	}
	return ""
}

// isRunDirName matches a bench run's folder, k<K>-seed<S>.
func isRunDirName(name string) bool {
	var k int
	var seed uint64
	n, err := fmt.Sscanf(name, "k%d-seed%d", &k, &seed)
	return err == nil && n == 2 && name == runDir(k, seed)
}

// isTemp matches what an interrupted atomic write, writability check or
// killed run leaves.
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && (strings.Contains(name, ".tmp-") || strings.HasPrefix(name, ".write-check-") || name == inUse)
}

// listNames shows a few of a folder's entries for an error message.
func listNames(entries []os.DirEntry) string {
	var names []string
	for _, e := range entries[:min(len(entries), 3)] {
		names = append(names, e.Name())
	}
	s := strings.Join(names, ", ")
	if len(entries) > 3 {
		s += fmt.Sprintf(" and %d more", len(entries)-3)
	}
	return s
}
