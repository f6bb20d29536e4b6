#!/usr/bin/env bash
# A throwaway one-node Ceph cluster with its S3 gateway (RGW) on loopback, for the store's tests
# and benchmarks: one monitor, one OSD on memstore (data in RAM), pool size 1, no cephx, radosgw
# with the beast frontend on 127.0.0.1. No systemd: every daemon runs from DIR and dies with
# 'down'. Needs Debian's ceph-mon ceph-osd radosgw ceph-common.
#
#   scripts/ceph-rgw.sh up [DIR]     start it; prints the S3 endpoint, access key and secret as
#                                    shell assignments (also written to DIR/env)
#   scripts/ceph-rgw.sh down [DIR]   stop every daemon and remove DIR
#
# Ports: BODYCAM_CEPH_MON_PORT and BODYCAM_RGW_PORT (default: free ones, chosen at start).
set -euo pipefail

cmd=${1:-}
dir=${2:-${BODYCAM_CEPH_DIR:-/tmp/bodycam-ceph}}
# A free port unless one is given: two clusters (a CI run, a developer's tests) never collide.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mon_port=${BODYCAM_CEPH_MON_PORT:-$(free_port)}
rgw_port=${BODYCAM_RGW_PORT:-$(free_port)}
access=bodycam-test-access
secret=bodycam-test-secret-0123456789

die() {
  echo "ceph-rgw: $*" >&2
  if [ "$cmd" = up ]; then
    tail -n 5 "$dir"/log/*.log >&2 2>/dev/null || true
    down_quietly
  fi
  exit 1
}
down_quietly() { down >/dev/null 2>&1 || true; }

down() {
  if [ -d "$dir/run" ]; then
    for pid in "$dir"/run/*.pid; do
      [ -f "$pid" ] || continue
      kill "$(cat "$pid")" 2>/dev/null || true
    done
    for _ in $(seq 50); do
      alive=0
      for pid in "$dir"/run/*.pid; do
        [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null && alive=1
      done
      [ $alive = 0 ] && break
      sleep 0.1
    done
    for pid in "$dir"/run/*.pid; do
      [ -f "$pid" ] && kill -9 "$(cat "$pid")" 2>/dev/null || true
    done
  fi
  rm -rf "$dir"
}

up() {
  for tool in ceph-mon ceph-osd radosgw ceph monmaptool radosgw-admin; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install ceph-mon ceph-osd radosgw ceph-common)"
  done
  down
  mkdir -p "$dir"/{mon,osd,run,log}
  fsid=$(cat /proc/sys/kernel/random/uuid)
  conf="$dir/ceph.conf"
  cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 1
paxos propose interval = 0.1
paxos min wait = 0.01
osd objectstore = memstore
memstore device bytes = ${BODYCAM_CEPH_MEMSTORE_BYTES:-2147483648}
run dir = $dir/run
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
mon data = $dir/mon/\$name
osd data = $dir/osd/\$name
keyring = $dir/keyring
public addr = 127.0.0.1
cluster addr = 127.0.0.1
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw dns name = 127.0.0.1
CONF
  touch "$dir/keyring"
  monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >"$dir/log/mkfs-mon.log" 2>&1 \
    || die "ceph-mon --mkfs failed: $(tail -1 "$dir/log/mkfs-mon.log")"
  ceph-mon -c "$conf" -i a >>"$dir/log/start.log" 2>&1 || die "ceph-mon did not start (see $dir/log)"
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(timeout 30 ceph -c "$conf" osd new "$uuid") || die "the monitor does not answer"
  mkdir -p "$dir/osd/osd.$id"
  ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >"$dir/log/mkfs-osd.log" 2>&1 \
    || die "ceph-osd --mkfs failed: $(tail -1 "$dir/log/mkfs-osd.log")"
  ceph-osd -c "$conf" -i "$id" >>"$dir/log/start.log" 2>&1 || die "ceph-osd did not start (see $dir/log)"
  mkdir -p "$dir/rgw"
  radosgw -c "$conf" -n client.rgw.a >>"$dir/log/start.log" 2>&1 || die "radosgw did not start (see $dir/log)"
  for _ in $(seq 300); do
    if radosgw-admin -c "$conf" user create --uid=bodycam --display-name=bodycam \
        --access-key="$access" --secret-key="$secret" >/dev/null 2>&1; then
      break
    fi
    sleep 0.1
  done
  radosgw-admin -c "$conf" user info --uid=bodycam >/dev/null 2>&1 || die "could not make the S3 user"
  for _ in $(seq 300); do
    curl -fs -o /dev/null "http://127.0.0.1:$rgw_port/" && break
    sleep 0.1
  done
  curl -fs -o /dev/null "http://127.0.0.1:$rgw_port/" || die "radosgw does not answer on 127.0.0.1:$rgw_port"
  cat >"$dir/env" <<ENV
BODYCAM_S3_ENDPOINT=http://127.0.0.1:$rgw_port
BODYCAM_S3_ACCESS_KEY=$access
BODYCAM_S3_SECRET_KEY=$secret
ENV
  cat "$dir/env"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down [DIR]" >&2; exit 2 ;;
esac
