// Command mnistgpu trains and evaluates the seed's MNIST CNN with a ResNet
// block on a CPU or CUDA backend.
//
// Output follows the Unix split: results (the run's summary, eval's table,
// bench's verdict) go to stdout, so `> file` keeps them; progress, notes and
// errors go to stderr. Exit status: 0 success, 1 a run that failed, 2 a usage
// error (bad flag or command), 130 stopped by Ctrl-C after saving.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kong"

	_ "github.com/mnistgpu/mnistgpu/cpu" // registers the cpu backend
	_ "github.com/mnistgpu/mnistgpu/gpu" // registers the cuda backend (loaded at run time)
)

// CLI is the command tree; each command lives in its own file.
type CLI struct {
	Version kong.VersionFlag `short:"V" help:"Print the version and exit."`

	Train   TrainCmd   `cmd:"" help:"Train the model and write metrics, figures, summary and checkpoint."`
	Bench   BenchCmd   `cmd:"" help:"Train a kernel × seed grid and compare the kernels (bench.md, bench.csv, figures)."`
	Eval    EvalCmd    `cmd:"" help:"Report test metrics of a checkpoint."`
	Export  ExportCmd  `cmd:"" help:"Write a checkpoint as ONNX or safetensors."`
	Predict PredictCmd `cmd:"" help:"Predict the digit in your own PNG or JPEG images with a checkpoint."`
	Summary SummaryCmd `cmd:"" help:"Print the Keras-style layer table and parameter counts."`
	Data    DataCmd    `cmd:"" help:"Fetch or verify the MNIST files."`
	Devices DevicesCmd `cmd:"" help:"Show the CUDA driver, libraries and GPUs found, or what is missing."`
}

// Exit statuses other than 0 and a command's own ExitCode.
const (
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // the command line was wrong, as Go tools and POSIX utilities use it
)

func main() {
	var cli CLI
	parser := kong.Must(&cli,
		kong.Name("mnistgpu"),
		kong.Description("Train the MNIST CNN with a ResNet block on CPU or GPU, with the seed report's outputs."),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.ValueFormatter(helpWithDefault),
		kong.Vars{"version": "mnistgpu " + version()},
	)
	args := os.Args[1:]
	if len(args) == 0 {
		// A bare invocation asks what this is: show the help, not an error.
		args = []string{"--help"}
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		// Every Parse error is the command line's fault (unknown command or
		// flag, a value kong or a Validate method refused).
		fail(err, exitUsage)
	}

	// The first Ctrl-C asks the command to stop and save what it has
	// (signals.go); the second quits, once no output is half-written.
	kctx.BindTo(watchSignals(), (*context.Context)(nil))
	if err := kctx.Run(); err != nil {
		fail(err, exitCode(err))
	}
}

// fail prints err as one line on stderr and exits with code. Joined errors
// (one per file or per download source) are separated by "; ".
func fail(err error, code int) {
	fmt.Fprintf(os.Stderr, "mnistgpu: error: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	os.Exit(code)
}

// exitCoder lets an error choose the process exit status.
type exitCoder interface{ ExitCode() int }

// exitCode looks through wrapping: kong's Run joins the command's error
// with its AfterRun hooks' errors.
func exitCode(err error) int {
	var e exitCoder
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	if errors.Is(err, context.Canceled) {
		return 130 // a stage stopped by Ctrl-C or SIGTERM, as a shell reports SIGINT
	}
	return exitFailure
}

// helpWithDefault adds "(default: X)" to a flag's help, so that the
// placeholder can say what kind of value the flag takes (N, DIR, FILE) and
// the default, `auto` included, is still shown.
func helpWithDefault(v *kong.Value) string {
	help := kong.DefaultHelpValueFormatter(v)
	if !v.HasDefault || v.IsBool() || v.Default == "" || strings.Contains(help, "(default") {
		return help
	}
	return strings.TrimSuffix(help, ".") + " (default: " + v.Default + ")."
}
