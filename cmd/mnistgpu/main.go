// Command mnistgpu trains and evaluates the seed's MNIST CNN with a ResNet
// block on a CPU or CUDA backend.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	_ "github.com/mnistgpu/mnistgpu/cpu" // registers the cpu backend
	_ "github.com/mnistgpu/mnistgpu/gpu" // registers the cuda backend (loaded at run time)
)

// CLI is the command tree; each command lives in its own file.
type CLI struct {
	Train   TrainCmd   `cmd:"" help:"Train the model and write metrics, figures, summary and checkpoint."`
	Bench   BenchCmd   `cmd:"" help:"Train a kernel × seed grid and compare the kernels (bench.md, bench.csv, figures)."`
	Eval    EvalCmd    `cmd:"" help:"Report test metrics of a checkpoint."`
	Summary SummaryCmd `cmd:"" help:"Print the Keras-style layer table and parameter counts."`
	Data    DataCmd    `cmd:"" help:"Fetch or verify the MNIST files."`
	Devices DevicesCmd `cmd:"" help:"Show the CUDA driver, libraries and GPUs found, or what is missing."`
}

func main() {
	var cli CLI
	parser := kong.Must(&cli,
		kong.Name("mnistgpu"),
		kong.Description("Train the MNIST CNN with a ResNet block on CPU or GPU, with the seed report's outputs."),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	kctx, err := parser.Parse(os.Args[1:])
	parser.FatalIfErrorf(err)

	// The first Ctrl-C asks the command to stop and save what it has; the
	// second, once stop() restores default handling, kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	kctx.BindTo(ctx, (*context.Context)(nil))
	if err := kctx.Run(); err != nil {
		// One line, whatever the error: joined errors (one per file or per
		// download source) are separated by "; ".
		fmt.Fprintf(os.Stderr, "mnistgpu: error: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(exitCode(err))
	}
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
	return 1
}
