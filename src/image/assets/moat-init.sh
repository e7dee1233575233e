#!/bin/sh
# moat-init: the container's entrypoint. Runs as root with a few capabilities, prepares the container
# (user, CA trust, proxy relay, staged files), then drops to the run's user with no capabilities at all.
#
# moat starts it as `/usr/bin/env -i PATH=... MOAT_UID=N MOAT_GID=N MOAT_PROXY_PORT=N /bin/sh moat-init CMD`
# in a container whose own environment only blanks the loader's variables: this privileged part never
# sees moat.yaml's env:, -e, or the image's ENV, runs system binaries by absolute path, and runs
# nothing from the workspace or a writable mount. The run's environment is a data file
# (/moat/stage/env, on a read-only mount) applied only by the process that starts after the drop.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
unset LD_PRELOAD LD_LIBRARY_PATH LD_AUDIT GLIBC_TUNABLES GCONV_PATH LOCPATH BASH_ENV ENV IFS CDPATH 2>/dev/null || true
IFS='
 	'

digits() { case "$1" in ''|*[!0-9]*) echo "moat-init: $2 must be a number" >&2; exit 70;; esac; }
uid="${MOAT_UID:-1000}"; digits "$uid" MOAT_UID
gid="${MOAT_GID:-1000}"; digits "$gid" MOAT_GID
port="${MOAT_PROXY_PORT:-}"; [ -z "$port" ] || digits "$port" MOAT_PROXY_PORT
services="${MOAT_PORTS:-}"; case "$services" in *[!0-9,]*) echo "moat-init: MOAT_PORTS must be numbers" >&2; exit 70;; esac
spare="${MOAT_SPARE:-}"; case "$spare" in ''|1) ;; *) echo "moat-init: MOAT_SPARE must be 1" >&2; exit 70;; esac
# Root works in /, never in the directory the container started in (the image's WORKDIR, /workspace): a
# run controls what is there (an earlier run's files, links, FIFOs), and a privileged program must not
# meet them through a relative name, a file read from its directory (an old Perl's "." in @INC) or one
# written there (a core dump, Java's hs_err log). The run's command starts there again (the end).
workdir="${PWD:-/}"
cd /
# moat's values are read: none of them, nor the PWD the shell exports on its own, goes on to a program.
# When nothing else is exported (moat's entrypoint is `env -i` with moat's values only), a program
# started with PATH unset gets an empty environment without a process of its own (`env -i`: one more
# exec, ~30 ms under gVisor); else (the image run some other way) each start goes through `env -i`.
unset MOAT_UID MOAT_GID MOAT_PROXY_PORT MOAT_PORTS MOAT_SPARE PWD OLDPWD
case "$(unset PATH; export -p)" in ''|'export PATH') clear='' ;; *) clear='/usr/bin/env -i' ;; esac
home=/home/moat
envfile=/moat/stage/env
[ -f "$envfile" ] || envfile=/dev/null

# The only way out: a relay from 127.0.0.1:PORT to the gateway's unix socket in the mounted directory.
# One process for every connection (select, non-blocking reads and writes): under gVisor each process
# switch and system call is costly, and socat's process per connection doubled the relay's CPU per
# request (BENCHMARKS.md, #12). Each accepted connection gets TCP_NODELAY: an answer written in pieces
# (a head, then a body; SSE events) goes out at once instead of waiting up to 40 ms for the client's
# delayed ACK of the piece before (Nagle). A half-close is passed on (printf | nc: the whole answer
# still comes back); at most 256 KiB waits per direction before the relay stops reading that side.
# A run cannot wedge it: at 500 connections it stops accepting (new ones wait in the listen queue) and
# says so once on the run's stderr, resuming as connections close; the gateway is dialled without
# blocking (a full gateway queue is retried for 10 s, the rest keep flowing meanwhile); out of
# descriptors, it pauses accepting until the next second instead of spinning. Only perl-base modules
# (Socket, Fcntl, Errno): a minimal image has no Time::HiRes, so time is whole seconds.
egress_relay='
use strict; use Socket qw(:DEFAULT IPPROTO_TCP TCP_NODELAY); use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use Errno qw(EAGAIN EBADF EINTR EINPROGRESS EMFILE ENFILE ENOBUFS ENOMEM);
my ($port, $path) = @ARGV; $port =~ /^[0-9]{1,5}$/ or exit 64;
$SIG{PIPE} = "IGNORE";
my $CAP = 500;
sub nonblocking { fcntl($_[0], F_SETFL, fcntl($_[0], F_GETFL, 0) | O_NONBLOCK) }
socket(my $l, PF_INET, SOCK_STREAM, 0) or exit 71;
setsockopt($l, SOL_SOCKET, SO_REUSEADDR, 1);
bind($l, pack_sockaddr_in($port, inet_aton("127.0.0.1"))) && listen($l, 1024) or exit 71;
nonblocking($l);
# Listening: this process exits (moat-init waits for it) and its child relays (its PID on stdout).
my $pid = fork; exit 71 unless defined $pid; if ($pid) { print "$pid\n"; exit 0 }
my (%fh, %peer, %buf, %eof, %shut, @wait);
my ($pause, $full, $starved) = (0, 0, 0);
sub pairs { keys(%fh) / 2 + @wait }
sub scarce { my $e = $! + 0; $e == EMFILE || $e == ENFILE || $e == ENOBUFS || $e == ENOMEM }
sub starve {
  $pause = time + 1;
  print STDERR "moat: the proxy relay ran out of file descriptors; it accepts new connections again as some close\n" unless $starved++;
}
# The select masks are kept up to date as a pair changes (upd), not rebuilt from every pair per wake-up.
my ($rin, $win) = ("", "");
sub upd {
  for my $x (@_) {
    next unless $fh{$x};
    vec($rin, $x, 1) = !$eof{$x} && length($buf{$peer{$x}}) < 262144 ? 1 : 0;
    vec($win, $x, 1) = length($buf{$x}) ? 1 : 0;
  }
}
sub drop {
  my ($f) = @_; my $p = $peer{$f};
  for my $x (grep { defined } $f, $p) {
    vec($rin, $x, 1) = 0; vec($win, $x, 1) = 0;
    close $fh{$x} if $fh{$x}; delete $_->{$x} for \%fh, \%peer, \%buf, \%eof, \%shut;
  }
}
sub flush {
  my ($f) = @_; my $b = \$buf{$f};
  while (length $$b) {
    my $w = syswrite($fh{$f}, $$b);
    if (!defined $w) { return 1 if $! == EAGAIN || $! == EINTR; drop($f); return 0 }
    substr($$b, 0, $w, "");
  }
  if ($eof{$peer{$f}} && !$shut{$f}) {
    shutdown($fh{$f}, 1); $shut{$f} = 1;
    if ($shut{$peer{$f}}) { drop($f); return 0 }
  }
  1;
}
# 1: the pair is relaying; 0: try again later (gateway queue full, out of descriptors); -1: give up.
sub dial {
  my ($c) = @_;
  my $u;
  if (!socket($u, PF_UNIX, SOCK_STREAM, 0)) { starve() if scarce(); return 0 }
  nonblocking($u);
  if (!connect($u, pack_sockaddr_un($path)) && $! != EINPROGRESS) {
    my $e = $! + 0; close $u;
    return $e == EAGAIN || $e == EINTR ? 0 : -1;
  }
  setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1); nonblocking($c);
  my ($a, $b) = (fileno($c), fileno($u));
  @fh{$a, $b} = ($c, $u); @peer{$a, $b} = ($b, $a); @buf{$a, $b} = ("", "");
  upd($a, $b);
  1;
}
my $lfd = fileno($l);
while (1) {
  my $now = time;
  my $open = pairs() < $CAP && $now >= $pause;
  vec($rin, $lfd, 1) = $open ? 1 : 0;
  my $t = @wait ? 0.05 : $now < $pause ? $pause - $now : undef;
  my $n = select(my $r = $rin, my $w = $win, undef, $t);
  if ($n < 0) {
    # A stale bit would fail every select (EBADF) at full CPU: the masks are made again from the open pairs.
    if ($! == EBADF) { ($rin, $win) = ("", ""); upd(keys %fh) }
    next;
  }
  # Only the descriptors select marked, found by index() over the mask as a bit string.
  my $ready = $n ? unpack("b*", $r | $w) : "";
  for (my $f = index($ready, "1"); $f >= 0; $f = index($ready, "1", $f + 1)) {
    next if $f == $lfd || !$fh{$f};
    my $p = $peer{$f};
    if (vec($w, $f, 1)) { flush($f) or next }
    if ($fh{$f} && vec($r, $f, 1)) {
      my $got = sysread($fh{$f}, my $data, 65536);
      if (!defined $got) { drop($f) unless $! == EAGAIN || $! == EINTR }
      else {
        if ($got == 0) { $eof{$f} = 1 } else { $buf{$p} .= $data }
        flush($p) or next;
      }
    }
    upd($f, $p);
  }
  if ($open && vec($r, $lfd, 1)) {
    while (pairs() < $CAP) {
      my $c;
      if (!accept($c, $l)) { starve() if scarce(); last }
      push @wait, [$c, time + 10];
    }
  }
  my @left;
  for my $x (@wait) {
    my $d = @left ? 0 : dial($x->[0]);
    if ($d == 0 && time < $x->[1]) { push @left, $x } elsif ($d != 1) { close $x->[0] }
  }
  @wait = @left;
  $starved = 0 if $starved && time > $pause + 5;
  if (pairs() >= $CAP) {
    print STDERR "moat: the proxy relay holds $CAP connections; new ones wait until some close\n" unless $full++;
  } elsif (pairs() < $CAP - 50) { $full = 0 }
}'
# Root's preparation of the files, done by the relay's Perl before it listens (run beside the shell's
# own steps; each program started costs a process: rm, ln, find, chown were ~4 execs on the way to the
# user's command), or by the shell (prepare_in_shell) when there is no relay or it did not run: the
# gateway's CA trusted (certificate only; its key never leaves the host), files staged for the home
# copied in, and the home given to the run's user. Exit 72: a step failed (moat-init stops, as a
# failing step of the shell's does); a relay that cannot listen after that exits 71 and the run goes on.
prepare_root='
{
  my ($uid, $gid, $home, $stage) = splice(@ARGV, 0, 4);
  my $fail = sub { print STDERR "moat-init: $_[0]\n"; exit 72 };
  if (-r "/moat/ca/ca.pem" && -d "/usr/local/share/ca-certificates") {
    open(my $in, "<", "/moat/ca/ca.pem") or $fail->("cannot read the gateway CA: $!");
    my $pem = do { local $/; <$in> }; close $in;
    $pem .= "\n" if length($pem) && substr($pem, -1) ne "\n";
    # A name there is replaced, never written through (a link is removed, the file made anew).
    my $crt = "/usr/local/share/ca-certificates/moat-gateway.crt";
    unlink $crt;
    my $out;
    sysopen($out, $crt, Fcntl::O_WRONLY() | Fcntl::O_CREAT() | Fcntl::O_EXCL() | Fcntl::O_NOFOLLOW(), 0644)
      && print({$out} $pem) && close($out) or $fail->("cannot write $crt: $!");
    if (open(my $all, ">>", "/etc/ssl/certs/ca-certificates.crt")) { print {$all} $pem; close $all }
    unlink "/etc/ssl/certs/moat-gateway.pem"; symlink "/moat/ca/ca.pem", "/etc/ssl/certs/moat-gateway.pem";
  }
  # Existing names are replaced, never written through (--remove-destination).
  if ($stage) { system("/bin/cp", "-a", "--remove-destination", "/moat/stage/home/.", "$home/") == 0 or exit 72 }
  # find HOME -xdev -exec chown -h: every name, links themselves (lchown) and mount points included,
  # without descending into a mount (its contents keep their owners) or through a link.
  my @top = lstat $home or $fail->("cannot look at $home: $!");
  my @todo = ($home);
  while (@todo) {
    my $p = pop @todo;
    my @st = lstat $p or $fail->("cannot look at $p: $!");
    my ($link, $dir) = (-l _, -d _);
    if ($link) { require POSIX; POSIX::lchown($uid, $gid, $p) or $fail->("cannot change the owner of $p: $!") }
    else { chown($uid, $gid, $p) or $fail->("cannot change the owner of $p: $!") }
    next unless $dir && $st[0] == $top[0];
    opendir(my $d, $p) or $fail->("cannot list $p: $!");
    push @todo, map { "$p/$_" } grep { $_ ne "." && $_ ne ".." } readdir $d;
    closedir $d;
  }
}'
prepare_in_shell() {
  if [ -r /moat/ca/ca.pem ] && [ -d /usr/local/share/ca-certificates ]; then
    # Read by the shell (a PEM is lines of text) and written twice without starting a program.
    pem=''
    while IFS= read -r line || [ -n "$line" ]; do pem="$pem$line
"; done </moat/ca/ca.pem
    /bin/rm -f /usr/local/share/ca-certificates/moat-gateway.crt # a link there is replaced, never written through
    printf '%s' "$pem" >/usr/local/share/ca-certificates/moat-gateway.crt
    { printf '%s' "$pem" >>/etc/ssl/certs/ca-certificates.crt; } 2>/dev/null || true
    /bin/ln -sf /moat/ca/ca.pem /etc/ssl/certs/moat-gateway.pem 2>/dev/null || true
  fi
  if [ -d /moat/stage/home ]; then
    /bin/cp -a --remove-destination /moat/stage/home/. "$home"/
  fi
  /usr/bin/find "$home" -xdev -exec /bin/chown -h "$uid:$gid" {} +
}
stage=''; [ ! -d /moat/stage/home ] || stage=1
relay=''
prepared=''
if [ -n "$port" ] && [ -d /moat/net ]; then
  if [ -x /usr/bin/perl ]; then
    # Started first and waited for last (its first process exits once it is done and listens): the
    # steps below run while Perl starts. Its stderr is the run's (it says once when it holds its limit).
    (unset PATH; exec $clear /usr/bin/perl -e "$prepare_root" -e "$egress_relay" "$uid" "$gid" "$home" "$stage" "$port" /moat/net/proxy.sock) </dev/null >/dev/null &
    relay=$!
    prepared=1
  else
    # A base image without Perl (Debian's perl-base is essential, but an image may strip it): socat's
    # process per connection (-t: after a half-close, wait for the whole answer; nodelay: see above).
    /usr/bin/socat -t 600 "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,nodelay" UNIX-CONNECT:/moat/net/proxy.sock 2>/dev/null &
    # Wait (briefly) until it listens so the first request of the user's process finds it.
    hex="$(printf '%04X' "$port")"
    i=0
    while [ $i -lt 200 ]; do
      if /bin/grep -q ":$hex 00000000:0000 0A" /proc/net/tcp 2>/dev/null; then break; fi
      i=$((i + 1)); /bin/sleep 0.01
    done
  fi
fi

# The run's user: reuse the image's `moat` account, renumbered to the workspace owner's uid:gid. The
# lookups are the shell's own reads (every program started here costs a process: ~60 ms each under gVisor).
has_id() { # FILE ID: some line's third field is ID
  while IFS=: read -r _name _pw _id _rest || [ -n "$_name" ]; do [ "$_id" = "$2" ] && return 0; done <"$1"
  return 1
}
if [ "$uid" != 0 ]; then
  if ! has_id /etc/group "$gid"; then
    /bin/sed -i "s/^moat:\([^:]*\):[0-9]*:/moat:\1:$gid:/" /etc/group
  fi
  if ! has_id /etc/passwd "$uid"; then
    /bin/sed -i "s/^moat:\([^:]*\):[0-9]*:[0-9]*:/moat:\1:$uid:$gid:/" /etc/passwd
  fi
fi
# Java keeps its own trust store (a JDK from the system's packages; the image's PATH is not consulted).
if [ -r /moat/ca/ca.pem ] && [ -x /usr/bin/keytool ]; then
  /usr/bin/keytool -importcert -noprompt -cacerts -storepass changeit -alias moat-gateway -file /moat/ca/ca.pem >/dev/null 2>&1 || true
fi

# The way in (moat.yaml ports:), a reverse tunnel: the host daemon LISTENS on /moat/net/in-PORT.sock
# (read-only here); this relay, as the run's user, CONNECTS to it and keeps a few idle connections. When
# the daemon writes one byte on one, the relay connects to 127.0.0.1:PORT and copies bytes both ways.
# The host never connects to anything a container names.
port_relay='
use strict; use Socket; use IO::Socket::UNIX; use IO::Socket::INET; use IO::Select; use POSIX ();
my $port = $ARGV[0]; $port =~ /^[0-9]{1,5}$/ or exit 64;
my $path = "/moat/net/in-$port.sock";
my %kids; my $idle = IO::Select->new;
$SIG{PIPE} = "IGNORE";
$SIG{CHLD} = sub { while ((my $k = waitpid(-1, POSIX::WNOHANG())) > 0) { delete $kids{$k} } };
sub relay {
  my ($up) = @_;
  my $svc = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Proto => "tcp") or return;
  my %peer = ($up => $svc, $svc => $up);
  my $sel = IO::Select->new($up, $svc);
  while ($sel->count) {
    for my $h ($sel->can_read) {
      my $n = sysread($h, my $buf, 65536);
      my $o = $peer{$h};
      if (!$n) { $sel->remove($h); shutdown($o, 1); next }
      for (my $off = 0; $off < $n; ) { my $w = syswrite($o, $buf, $n - $off, $off); return unless defined $w; $off += $w }
    }
  }
}
while (1) {
  while ($idle->count < 4 && keys(%kids) < 512) {
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path) or last;
    $idle->add($s);
  }
  if ($idle->count == 0) { select(undef, undef, undef, 0.5); next }
  for my $s ($idle->can_read(30)) {
    $idle->remove($s);
    my $n = sysread($s, my $go, 1);
    if (!$n) { close $s; next }
    my $pid = fork;
    if (!defined $pid) { close $s; next }
    if ($pid == 0) { $SIG{CHLD} = "DEFAULT"; relay($s); POSIX::_exit(0) }
    $kids{$pid} = 1; close $s;
  }
}'
if [ -n "$services" ] && [ -d /moat/net ]; then
  for p in $(echo "$services" | /usr/bin/tr ',' ' '); do
    (unset PATH; exec /usr/bin/setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all -- \
      $clear /usr/bin/perl -e "$port_relay" "$p") </dev/null >/dev/null 2>&1 &
  done
fi

# SSH leaves through the gateway too: every ssh connection is `CONNECT host:22` through the relay (the
# gateway opens port 22 only to SSH-granted hosts and network.rules entries with :22). Host keys must be
# known (a grant's known_hosts entries are staged in ~/.ssh/known_hosts); agent forwarding stays off.
if [ -n "$port" ] && [ -d /etc/ssh/ssh_config.d ]; then
  # ssh finds "~" from the passwd entry (root's is /root): name the staged file, in the run's home.
  printf 'Host *\n  ProxyCommand /usr/bin/socat - PROXY:127.0.0.1:%%h:%%p,proxyport=%s\n  UserKnownHostsFile %s/.ssh/known_hosts\n  StrictHostKeyChecking yes\n  UpdateHostKeys no\n  ForwardAgent no\n' "$port" "$home" > /etc/ssh/ssh_config.d/moat.conf
fi

# The egress relay listens before the user's process starts (its first request finds it). 72: its
# preparation failed (said on stderr); 0, 71 (it could not listen): prepared; anything else (Perl did
# not run its script): the shell prepares.
if [ -n "$relay" ]; then
  rc=0; wait "$relay" || rc=$?
  case $rc in 0|71) ;; 72) exit 70;; *) prepared='';; esac
fi
# The home belongs to the run's user, uid 0 included: without capabilities root writes only what it owns.
# Files staged for the user's home (placeholders, agent settings): copied, owned by the user, 0600.
# Existing names are replaced, never written through (--remove-destination). The home changes owner
# without following symlinks or descending into mounts (a mounted folder's contents keep their owners).
[ -n "$prepared" ] || prepare_in_shell

# A spare (src/daemon/spares.ts) is a container the daemon started, prepared up to here, ahead of the run
# that will claim it: it waits, before anything of a run's, on a connection to the daemon's
# /moat/net/go.sock. The claiming run's command (/moat/stage/argv) and environment (/moat/stage/env) are
# written on the host, then the daemon sends one byte "g". Anything else (no socket, the connection
# closed, another byte, no Perl to wait with) ends the container without starting anything (exit 75).
spare_wait='
use strict; use Socket;
socket(my $s, PF_UNIX, SOCK_STREAM, 0) or exit 1;
connect($s, pack_sockaddr_un("/moat/net/go.sock")) or exit 1;
my $n = sysread($s, my $b, 1);
exit(defined $n && $n == 1 && $b eq "g" ? 0 : 1);'
read_argv=''
argvfile=/dev/null
if [ -n "$spare" ]; then
  [ -x /usr/bin/perl ] || exit 75
  (unset PATH; exec $clear /usr/bin/perl -e "$spare_wait") </dev/null >/dev/null 2>&1 || exit 75
  [ -f /moat/stage/argv ] || exit 75
  set -- # the container's own command is a placeholder: the run's is the file's
  argvfile=/moat/stage/argv
  envfile=/moat/stage/env
  [ -f "$envfile" ] || envfile=/dev/null
  # Read after the drop, as data (one argument a line, escaped as the environment's values are).
  read_argv='
set --
while IFS= read -r arg <&4; do
  case $arg in *\\*) arg=$(printf "%bx" "$arg"); arg=${arg%x};; esac
  set -- "$@" "$arg"
done
'
fi

# After the drop, with an empty environment: set the run's variables from the file (one NAME=VALUE a
# line, the value escaped for printf %b), read as data and never run, then start the command (found on
# the run's PATH, else the line `moat-init: command-not-found` alone on stderr and exit 127).
apply_env='
while IFS= read -r line; do
  name=${line%%=*}
  case $name in ""|[0-9]*|*[!A-Za-z0-9_]*) echo "moat: skipping an invalid variable name" >&2; continue;; esac
  value=${line#*=}
  case $value in *\\*) value=$(printf "%bx" "$value"); value=${value%x};; esac
  export "$name=$value"
done <&3
exec 3<&- 4<&-
# A command that does not exist: a fixed line moat recognises (with exit 127) and explains on the host.
command -v -- "$1" >/dev/null 2>&1 || { echo "moat-init: command-not-found" >&2; exit 127; }
exec "$@"'
# Back to the directory the container started in, so the run's command starts there (setpriv keeps it);
# the shell's PWD and OLDPWD stay out of the run's environment, as above.
cd -P -- "$workdir" || { echo "moat-init: cannot return to the working directory $workdir" >&2; exit 70; }
unset PATH PWD OLDPWD
exec /usr/bin/setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all -- \
  $clear /bin/sh -c "$read_argv$apply_env" moat "$@" 3<"$envfile" 4<"$argvfile"
