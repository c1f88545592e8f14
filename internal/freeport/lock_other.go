//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package freeport

import (
	"errors"
	"os"
)

const locksSupported = false

func lock(string) (func(), error) { return nil, errors.New("port locks are not supported here") }

func ownedByMe(os.FileInfo) bool { return false }
