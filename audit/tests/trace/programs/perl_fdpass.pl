# Perl IO::FDPass (Debian libio-fdpass-perl): send a pipe's two ends over a
# socketpair and receive them; the received descriptors are closed.
use strict;
use warnings;
use IO::FDPass;
use Socket;
use POSIX ();

socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
pipe(my $r, my $w) or die "pipe: $!";
IO::FDPass::send(fileno $a, fileno $r) or die "send: $!";
IO::FDPass::send(fileno $a, fileno $w) or die "send: $!";
my @got = (IO::FDPass::recv(fileno $b), IO::FDPass::recv(fileno $b));
die "recv: $!" if grep { $_ < 0 } @got;
print "received @got\n";
POSIX::close($_) for @got;
