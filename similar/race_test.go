//go:build race

package similar

// raceEnabled: the race detector slows the package down some tenfold, so the big tests shrink.
const raceEnabled = true
