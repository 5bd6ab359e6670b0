//go:build !unix

package main

import (
	"errors"
	"os"
)

type pidFile struct{}

func lockPIDFile(string) (*pidFile, error) { return &pidFile{}, nil }

func (*pidFile) Close() error { return nil }

func signalReload(string) (int, error) {
	return 0, errors.New("reload by signal needs a Unix system")
}

func notifyReload(chan<- os.Signal) {}
