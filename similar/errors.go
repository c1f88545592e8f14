package similar

import "errors"

// Errors callers can test with errors.Is. The errors the package returns wrap them with what was
// wrong and where.
var (
	// ErrDimension: a vector's length is not the index's dimension.
	ErrDimension = errors.New("wrong number of dimensions")
	// ErrZeroVector: a vector is all zeros, so it has no direction to compare by cosine.
	ErrZeroVector = errors.New("zero vector")
	// ErrNotFinite: a vector has a NaN or infinite component.
	ErrNotFinite = errors.New("NaN or infinite component")
	// ErrDuplicateID: Add was given an ID the index already holds.
	ErrDuplicateID = errors.New("duplicate id")
	// ErrFormat: ReadIndex was given something that is not an index file of a version it reads, or
	// one that is truncated or corrupt.
	ErrFormat = errors.New("not a readable similar index")
)
