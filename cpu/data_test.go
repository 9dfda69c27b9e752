package cpu

import (
	"testing"
)

// TestGatherBatch checks that GatherBatch writes images perm[offset:offset+B]
// scaled by 1/255 and their labels.
func TestGatherBatch(t *testing.T) {
	const n, h, w = 10, 3, 4
	r := newRand(1300)
	pixels, labels := make([]uint8, n*h*w), make([]uint8, n)
	for i := range pixels {
		pixels[i] = uint8(r.IntN(256))
	}
	pixels[0], pixels[1] = 0, 255
	for i := range labels {
		labels[i] = uint8(r.IntN(10))
	}
	perm := make([]int32, n)
	for i, p := range r.Perm(n) {
		perm[i] = int32(p)
	}
	perm[5] = 0 // image 0 holds the 0 and 255 pixels

	cases := []struct {
		name          string
		batch, offset int
	}{
		{"from the start", 4, 0},
		{"middle", 3, 4},
		{"up to the end", 5, 5},
		{"whole set", n, 0},
	}
	c := New()
	d, err := c.UploadDataset(pixels, labels, n, h, w)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Len() != n {
		t.Fatalf("dataset Len %d, want %d", d.Len(), n)
	}
	p := uploadInt32(t, c, perm, n)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, y := garbage(c, tc.batch, h, w, 1), c.AllocInt32(tc.batch)
			if err := c.UploadInt32(y, make([]int32, tc.batch)); err != nil {
				t.Fatal(err)
			}
			c.GatherBatch(x, y, d, p, tc.offset)
			mustSync(t, c)
			wantX, wantY := make([]float64, 0, tc.batch*h*w), make([]int32, 0, tc.batch)
			for b := 0; b < tc.batch; b++ {
				img := int(perm[tc.offset+b])
				for _, v := range pixels[img*h*w : (img+1)*h*w] {
					wantX = append(wantX, float64(v)/255)
				}
				wantY = append(wantY, int32(labels[img]))
			}
			checkClose(t, "x", download(t, c, x), wantX, 0, 1e-7)
			got := y.(*Tensor).i
			for b := range wantY {
				if got[b] != wantY[b] {
					t.Errorf("label %d: got %d, want %d (image %d); labels %v, want %v", b, got[b], wantY[b], perm[tc.offset+b], got, wantY)
					break
				}
			}
		})
	}
}

// TestView checks that a view shares its tensor's memory both ways, for both
// element types, and that a view outside the tensor panics.
func TestView(t *testing.T) {
	c := New()
	base := upload(t, c, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 3, 4)
	v := c.View(base, 4, 2, 2)
	if got := v.Shape(); len(got) != 2 || got[0] != 2 || got[1] != 2 || v.Len() != 4 {
		t.Fatalf("view shape %v, Len %d, want [2 2], 4", got, v.Len())
	}
	checkClose(t, "view reads", download(t, c, v), []float64{4, 5, 6, 7}, 0, 0)
	c.Fill(v, -1)
	checkClose(t, "write through the view", download(t, c, base), []float64{0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11}, 0, 0)
	if err := c.Upload(base, to32([]float64{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0})); err != nil {
		t.Fatal(err)
	}
	checkClose(t, "the view sees the tensor", download(t, c, v), []float64{7, 6, 5, 4}, 0, 0)
	// An op writing into a view writes into the tensor.
	c.ReLU(c.View(base, 0, 4), upload(t, c, []float64{-1, 2, -3, 4}, 4))
	mustSync(t, c)
	checkClose(t, "op into a view", download(t, c, base), []float64{0, 2, 0, 4, 7, 6, 5, 4, 3, 2, 1, 0}, 0, 0)

	ints := uploadInt32(t, c, []int32{1, 2, 3, 4, 5}, 5)
	iv := c.View(ints, 3, 2)
	if err := c.UploadInt32(iv, []int32{40, 50}); err != nil {
		t.Fatal(err)
	}
	if got := ints.(*Tensor).i; got[3] != 40 || got[4] != 50 || got[2] != 3 {
		t.Errorf("int32 view write: tensor holds %v, want [1 2 3 40 50]", got)
	}

	// A view cannot reach past its end, not even by appending.
	short := c.View(base, 2, 2).(*Tensor)
	_ = append(short.f, 99)
	if got := download(t, c, base)[4]; got != 7 {
		t.Errorf("append to a view wrote %v into the tensor past it", got)
	}
	for _, bad := range []struct{ offset, n int }{{-1, 2}, {11, 2}, {0, 13}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("View(offset %d, %d elements) of 12 did not panic", bad.offset, bad.n)
				}
			}()
			c.View(base, bad.offset, bad.n)
		}()
	}
}
