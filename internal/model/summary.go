package model

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteSummary prints a Keras-style table: layer, output shape, parameter
// count, then total, trainable and non-trainable counts.
func (s *Spec) WriteSummary(w io.Writer) error {
	sizes := map[string]int{}
	for _, p := range s.Params {
		sizes[p.Name] = p.Size()
	}
	const rule = "_______________________________________________________________________________"
	const double = "==============================================================================="
	var b strings.Builder
	fmt.Fprintf(&b, "Model: \"mnist_resnet_k%d\"\n%s\n", s.Config.Kernel, rule)
	fmt.Fprintf(&b, "%-46s%-22s%11s\n%s\n", "Layer (type)", "Output Shape", "Param #", double)
	for i, l := range s.Layers {
		n := 0
		for _, name := range l.Params {
			n += sizes[name]
		}
		shape := "(None"
		for _, d := range l.Output {
			shape += ", " + strconv.Itoa(d)
		}
		shape += ")"
		fmt.Fprintf(&b, "%-46s%-22s%11s\n", fmt.Sprintf("%s (%s)", l.Name, l.Type), shape, Thousands(n))
		if i < len(s.Layers)-1 {
			fmt.Fprintln(&b)
		}
	}
	total, trainable, nonTrainable := s.Counts()
	fmt.Fprintf(&b, "%s\nTotal params: %s\nTrainable params: %s\nNon-trainable params: %s\n%s\n",
		double, Thousands(total), Thousands(trainable), Thousands(nonTrainable), rule)
	_, err := io.WriteString(w, b.String())
	return err
}

// Thousands formats n with comma separators, as Keras prints counts: 1,219,530.
func Thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
