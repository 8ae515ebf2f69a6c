//go:build !linux

package matgto

import "syscall"

// serverProcAttr: outside Linux there is no parent-death signal; Stop (or
// t.Cleanup) ends the server.
func serverProcAttr() *syscall.SysProcAttr { return nil }
