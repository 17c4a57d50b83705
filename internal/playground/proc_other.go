//go:build !linux

package playground

import (
	"os/exec"
	"syscall"
)

// terminate asks the own redis-server to stop.
const terminate = syscall.SIGTERM

// childAttr: outside Linux the own redis-server is stopped by the playground only.
func childAttr() *syscall.SysProcAttr { return nil }

// startChild starts cmd; done is closed once it has exited.
func startChild(cmd *exec.Cmd, done chan struct{}) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return nil
}
