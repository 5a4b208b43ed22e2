# Ruby UNIXSocket#send_io / #recv_io over a socket pair; the received IO
# objects are closed.
require "socket"

a, b = UNIXSocket.pair
r, w = IO.pipe
a.send_io(r)
a.send_io(w)
got = [b.recv_io, b.recv_io]
puts "received #{got.map(&:fileno).inspect} close_on_exec: #{got.map(&:close_on_exec?).inspect}"
got.each(&:close)
