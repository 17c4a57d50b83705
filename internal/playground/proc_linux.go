package playground

import (
	"os/exec"
	"runtime"
	"syscall"
)

// terminate asks the own redis-server to stop.
const terminate = syscall.SIGTERM

// childAttr puts the redis-server in a process group of its own, so that Ctrl-C in the
// terminal stops the playground and the playground stops Redis after the service (not both
// at once), and has the kernel kill it if the playground dies without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startChild starts cmd and waits for it on a goroutine locked to its OS thread: Pdeathsig
// fires when the thread that started the child ends, so that thread must live as long as
// the child does. done is closed once the child has exited.
func startChild(cmd *exec.Cmd, done chan struct{}) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(done)
	}()
	return <-started
}
