// Go net.UnixConn.WriteMsgUnix / ReadMsgUnix with syscall.UnixRights over a
// socket pair; the received descriptors are closed.
package main

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

func conn(fd int) *net.UnixConn {
	c, err := net.FileConn(os.NewFile(uintptr(fd), "sock"))
	if err != nil {
		panic(err)
	}
	return c.(*net.UnixConn)
}

func main() {
	sv, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		panic(err)
	}
	a, b := conn(sv[0]), conn(sv[1])
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	if _, _, err := a.WriteMsgUnix([]byte("fds"), syscall.UnixRights(int(r.Fd()), int(w.Fd())), nil); err != nil {
		panic(err)
	}
	r.Close()
	w.Close()
	buf := make([]byte, 16)
	oob := make([]byte, syscall.CmsgSpace(2*4))
	_, oobn, _, _, err := b.ReadMsgUnix(buf, oob)
	if err != nil {
		panic(err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		panic(err)
	}
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			panic(err)
		}
		fmt.Println("received", fds)
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}
}
