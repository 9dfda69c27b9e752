package cpu

// grown returns (*buf)[:n], first replacing *buf by a larger slice if it is
// too short. Every scratch buffer of the backend goes through it, so each
// grows once to the largest shape and steady-state steps do not allocate.
func grown[T any](buf *[]T, n int) []T {
	if len(*buf) < n {
		*buf = make([]T, n)
	}
	return (*buf)[:n]
}
