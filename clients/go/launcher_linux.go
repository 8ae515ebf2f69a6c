package matgto

import "syscall"

// serverProcAttr makes the kernel send SIGTERM to the server when the
// process that started it dies (a test binary killed by `go test -timeout`,
// say), so that no server outlives its tests.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
