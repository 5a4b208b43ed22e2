"""dbus-daemon (run by dbus-run-session) between a service that takes a
unix fd (`Take(h)`: reads it, closes it) and a client that sends one.
Needs Debian's python3-dbus and python3-gi (run it with /usr/bin/python3)."""
import os
import sys
import time

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

NAME = "org.inflight.TraceTest"


class Service(dbus.service.Object):
    def __init__(self, bus, loop):
        super().__init__(bus, "/t")
        self.loop = loop

    @dbus.service.method(NAME, in_signature="h", out_signature="s")
    def Take(self, fd):
        n = fd.take()
        data = os.read(n, 64).decode()
        os.close(n)
        GLib.idle_add(self.loop.quit)
        return data


pid = os.fork()
if pid == 0:
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    loop = GLib.MainLoop()
    name = dbus.service.BusName(NAME, bus)
    Service(bus, loop)
    loop.run()
    os._exit(0)

bus = dbus.SessionBus()
for _ in range(200):
    if bus.name_has_owner(NAME):
        break
    time.sleep(0.05)
r, w = os.pipe()
os.write(w, b"through dbus")
os.close(w)
reply = bus.get_object(NAME, "/t").Take(dbus.types.UnixFd(r), dbus_interface=NAME)
os.close(r)
print("service read:", reply)
os.waitpid(pid, 0)
sys.exit(0 if reply == "through dbus" else 1)
