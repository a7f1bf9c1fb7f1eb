#!/bin/sh
# guest/linux/build.sh OUTDIR: builds the Linux test guest of ferry's e2e
# tests, OUTDIR/vmlinuz, OUTDIR/vmlinux and OUTDIR/initramfs.cpio.gz (see
# README.md beside).  vmlinuz is Debian's kernel image as shipped; vmlinux
# is the uncompressed kernel inside it, which QEMU boots through its PVH
# entry point: under TCG that saves the 4 s the xz decompressor takes.
#
# Owns: fetching Debian 12's kernel and busybox-static packages with
# `apt-get download` into a cache directory, unpacking them with dpkg-deb,
# picking the kernel modules the guest needs, and packing the initramfs.
# Must not: install anything into the host (no kernel in /boot, no package
# installed), fetch anything but Debian packages through apt-get, or touch
# anything outside OUTDIR and the cache directory.
#
# Idempotent: when the outputs are newer than every input (this script,
# init, ferry-ctl and the two packages they were built from, named in
# OUTDIR/linux-guest.txt) it does nothing, without asking apt: a newer
# kernel from Debian is taken when the guest is rebuilt (an input changed,
# or OUTDIR was deleted).  Several tests may call it at once: a lock on
# OUTDIR serialises them, and the second finds the work done.
#
# Environment: FERRY_LINUX_GUEST_CACHE, where the packages are kept
# (default /var/cache/ferry/linux-guest).
set -eu

PROG=guest/linux/build.sh
die() {
    echo "$PROG: $*" >&2
    exit 1
}
say() {
    echo "$PROG: $*" >&2
}

[ $# -eq 1 ] || die "usage: build.sh OUTDIR"
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${FERRY_LINUX_GUEST_CACHE:-/var/cache/ferry/linux-guest}

# Debian's generic kernel, not linux-image-cloud-amd64: the cloud flavour
# has no AHCI (a SATA cdrom), no e1000 and no 8139cp, which ferry's
# domain XML accepts and tests may want.
KERNEL_META=linux-image-amd64
BUSYBOX_PKG=busybox-static

# The modules the guest loads, by module name; their dependencies come
# from modules.dep.  Order is the order init loads them in, after their
# dependencies: the PCI transport first, then block, SCSI, ATA (the
# cdrom, IDE on piix or SATA on ahci), the virtio-serial ports, balloon,
# rng, and the NICs.  crct10dif_generic and crc64_rocksoft_generic are
# what sd_mod's checksum libraries ask the crypto API for at load time:
# loaded first, nothing is requested from a modprobe.
MODULES="
virtio_pci
virtio_blk
crct10dif_generic
crc64_rocksoft_generic
scsi_mod
virtio_scsi
sd_mod
sr_mod
cdrom
ata_piix
ahci
virtio_console
virtio_balloon
virtio_rng
failover
net_failover
virtio_net
e1000
8139cp
"

for tool in apt-get:apt apt-cache:apt dpkg-deb:dpkg gzip:gzip xz:xz-utils od:coreutils \
            flock:util-linux find:findutils sort:coreutils awk:mawk; do
    command -v "${tool%%:*}" >/dev/null 2>&1 ||
        die "'${tool%%:*}' not found: install Debian package ${tool#*:} (scripts/install-deps)"
done

mkdir -p "$OUT" || die "cannot create output directory $OUT"
OUT=$(cd "$OUT" && pwd)
mkdir -p "$CACHE" 2>/dev/null ||
    die "cannot create the package cache $CACHE (run as root, or set FERRY_LINUX_GUEST_CACHE)"
[ -w "$CACHE" ] ||
    die "the package cache $CACHE is not writable (run as root, or set FERRY_LINUX_GUEST_CACHE)"

exec 9>"$OUT/.build.lock"
flock 9

VMLINUZ="$OUT/vmlinuz"
VMLINUX="$OUT/vmlinux"
INITRD="$OUT/initramfs.cpio.gz"
INFO="$OUT/linux-guest.txt"
SOURCES="$HERE/build.sh $HERE/init $HERE/ferry-ctl"

# up_to_date KDEB BDEB: whether the outputs are all there and newer than
# the sources and the two packages.  The initramfs is written last: it is
# the outputs' age.
up_to_date() {
    for f in $SOURCES "$1" "$2" "$VMLINUZ" "$VMLINUX" "$INFO" "$INITRD"; do
        [ -r "$f" ] || return 1
    done
    # shellcheck disable=SC2086
    [ -z "$(find $SOURCES "$1" "$2" "$VMLINUZ" "$VMLINUX" "$INFO" -newer "$INITRD")" ]
}
if [ -r "$INFO" ] &&
   up_to_date "$(sed -n 's/^kernel-deb //p' "$INFO")" "$(sed -n 's/^busybox-deb //p' "$INFO")"; then
    exit 0
fi

# Which linux-image-6.1.0-N-amd64 the meta package names today.  This
# reads apt's local lists only; without them (apt-get update never ran)
# the newest kernel package already in the cache is used.
resolve_kernel() {
    apt-cache depends "$KERNEL_META" 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}
kpkg=$(resolve_kernel)

# cached PKG: the newest .deb of PKG in the cache, or nothing.
cached() {
    # shellcheck disable=SC2012,SC2086
    ls -t "$CACHE"/$1_*.deb 2>/dev/null | head -n 1
}
# Neither apt's lists nor the cache know a kernel (a new machine where
# nothing else ran apt-get update): the lists are fetched once.
if [ -z "$kpkg" ] && [ -z "$(cached 'linux-image-[0-9]*-amd64')" ]; then
    say "apt knows no $KERNEL_META: running apt-get update"
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
    kpkg=$(resolve_kernel)
fi

# fetch PKG: makes sure the cache holds a .deb of PKG, with apt-get
# download (no installation).  apt runs its downloads as the user _apt:
# it gets a directory of its own to write into.
fetch() {
    [ -n "$(cached "$1")" ] && return 0
    say "downloading $1 with apt-get download into $CACHE"
    dl="$CACHE/partial"
    rm -rf "$dl"
    mkdir -p "$dl"
    if id _apt >/dev/null 2>&1; then
        chown _apt "$dl" 2>/dev/null || true
    fi
    if ! (cd "$dl" && apt-get download -q=2 "$1" >"$dl.log" 2>&1); then
        cat "$dl.log" >&2
        rm -rf "$dl" "$dl.log"
        die "apt-get download $1 failed: is Debian's archive reachable and apt-get update run?"
    fi
    mv "$dl"/*.deb "$CACHE"/
    rm -rf "$dl" "$dl.log"
}

(
    flock 8
    if [ -n "$kpkg" ]; then
        fetch "$kpkg"
    fi
    fetch "$BUSYBOX_PKG"
) 8>"$CACHE/.lock"

if [ -n "$kpkg" ]; then
    kdeb=$(cached "$kpkg")
else
    kdeb=$(cached 'linux-image-[0-9]*-amd64')
    [ -n "$kdeb" ] ||
        die "apt knows no package $KERNEL_META and $CACHE holds no kernel package: run apt-get update"
    say "apt-cache cannot resolve $KERNEL_META: using the cached $(basename "$kdeb")"
fi
bdeb=$(cached "$BUSYBOX_PKG")
[ -n "$kdeb" ] || die "no kernel package in $CACHE after the download"
[ -n "$bdeb" ] || die "no $BUSYBOX_PKG package in $CACHE after the download"

for f in $SOURCES; do
    [ -r "$f" ] || die "input $f is missing"
done
up_to_date "$kdeb" "$bdeb" && exit 0

WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
say "building from $(basename "$kdeb") and $(basename "$bdeb")"

dpkg-deb -x "$kdeb" "$WORK/kernel" || die "dpkg-deb cannot unpack $kdeb"
dpkg-deb -x "$bdeb" "$WORK/busybox" || die "dpkg-deb cannot unpack $bdeb"
BB="$WORK/busybox/bin/busybox"
[ -x "$BB" ] || die "$bdeb holds no /bin/busybox"

set -- "$WORK"/kernel/lib/modules/*
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    die "$kdeb holds no single /lib/modules/VERSION directory"
fi
KVER=$(basename "$1")
MODDIR="$WORK/kernel/lib/modules/$KVER"
KIMAGE="$WORK/kernel/boot/vmlinuz-$KVER"
[ -r "$KIMAGE" ] || die "$kdeb holds no /boot/vmlinuz-$KVER"
[ -r "$MODDIR/modules.builtin" ] || die "$kdeb holds no modules.builtin"
grep -q '^CONFIG_PVH=y' "$WORK/kernel/boot/config-$KVER" ||
    die "$kdeb: its kernel has no PVH entry point (CONFIG_PVH): QEMU cannot boot its vmlinux"

# vmlinux: the payload of the bzImage, where the x86 boot protocol says it
# is (setup_sects at 0x1f1, payload_offset and payload_length at 0x248,
# the offset counted from the protected-mode code after the setup
# sectors), decompressed.  xz stops at the stream's end: the 4 bytes after
# it are the decompressed size, for the kernel's own decompressor.
setup_sects=$(od -A n -t u1 -j $((0x1f1)) -N 1 "$KIMAGE" | tr -d ' ')
[ "$setup_sects" -ne 0 ] || setup_sects=4
# shellcheck disable=SC2046
set -- $(od -A n -t u4 -j $((0x248)) -N 8 "$KIMAGE")
[ $# -eq 2 ] || die "$KIMAGE: cannot read payload_offset and payload_length"
payload=$(((setup_sects + 1) * 512 + $1))
magic=$(tail -c +$((payload + 1)) "$KIMAGE" | head -c 6 | od -A n -t x1 | tr -d ' \n')
[ "$magic" = fd377a585a00 ] ||
    die "$KIMAGE: its payload is not xz (magic $magic): build.sh extracts only xz kernels"
tail -c +$((payload + 1)) "$KIMAGE" | head -c "$2" | xz -dc --single-stream >"$WORK/vmlinux" ||
    die "$KIMAGE: cannot decompress its xz payload"
[ "$(head -c 4 "$WORK/vmlinux" | od -A n -t x1 | tr -d ' \n')" = 7f454c46 ] ||
    die "$KIMAGE: its payload is not an ELF vmlinux"

# Debian ships no modules.dep (its postinst runs depmod): busybox's depmod,
# from the package just unpacked, makes one from the modules' own
# "depends=" records.
"$BB" depmod -b "$WORK/kernel" "$KVER" || die "depmod failed on $kdeb"
[ -s "$MODDIR/modules.dep" ] || die "depmod wrote no modules.dep for $KVER"

# The wanted modules and their dependencies, each after what it needs, as
# paths relative to $MODDIR; a wanted module built into the kernel is
# skipped (reported on stderr), one that is neither is an error.
# shellcheck disable=SC2086,SC2116
LOAD=$(awk -v wanted="$(echo $MODULES)" -v kver="$KVER" '
    function norm(p) { sub(/.*\//, "", p); sub(/\.ko$/, "", p); gsub(/-/, "_", p); return p }
    function visit(path,   n, i, d) {
        if (path in done)
            return
        done[path] = 1
        n = split(deps[path], d, " ")
        # modules.dep lists every dependency, direct or not; each is
        # visited first so that its own come before it.
        for (i = n; i >= 1; i--)
            visit(d[i])
        order[++count] = path
    }
    FILENAME ~ /modules\.builtin$/ { builtin[norm($1)] = 1; next }
    {
        path = $1
        sub(/:$/, "", path)
        $1 = ""
        deps[path] = $0
        bypath[norm(path)] = path
    }
    END {
        bad = 0
        n = split(wanted, w, " ")
        for (i = 1; i <= n; i++) {
            m = w[i]
            gsub(/-/, "_", m)
            if (m in bypath)
                visit(bypath[m])
            else if (m in builtin)
                printf("build.sh: module %s is built into %s: not copied\n", w[i], kver) > "/dev/stderr"
            else {
                printf("build.sh: module %s is neither a module nor built into %s\n", w[i], kver) > "/dev/stderr"
                bad = 1
            }
        }
        if (bad)
            exit 1
        for (i = 1; i <= count; i++)
            print order[i]
    }' "$MODDIR/modules.builtin" "$MODDIR/modules.dep") ||
    die "the module list does not match $(basename "$kdeb")"

# The initramfs tree.
ROOT="$WORK/root"
mkdir -p "$ROOT"/bin "$ROOT"/dev "$ROOT"/proc "$ROOT"/sys "$ROOT"/tmp "$ROOT"/run \
         "$ROOT"/etc "$ROOT"/root "$ROOT"/usr "$ROOT/lib/modules/$KVER"
ln -s bin "$ROOT/sbin"
ln -s ../bin "$ROOT/usr/bin"
ln -s ../bin "$ROOT/usr/sbin"
cp "$BB" "$ROOT/bin/busybox"
for applet in $("$BB" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$ROOT/bin/$applet"
done
cp "$HERE/init" "$ROOT/init"
cp "$HERE/ferry-ctl" "$ROOT/bin/ferry-ctl"
chmod 755 "$ROOT/init" "$ROOT/bin/ferry-ctl"

: >"$ROOT/lib/modules/$KVER/load.list"
for path in $LOAD; do
    mkdir -p "$ROOT/lib/modules/$KVER/$(dirname "$path")"
    cp "$MODDIR/$path" "$ROOT/lib/modules/$KVER/$path"
    echo "$path" >>"$ROOT/lib/modules/$KVER/load.list"
done
# The part of modules.dep for what is copied: busybox's modprobe, by hand
# on the console or from the kernel, finds them.
awk 'NR == FNR { have[$1 ":"] = 1; next } $1 in have' \
    "$ROOT/lib/modules/$KVER/load.list" "$MODDIR/modules.dep" >"$ROOT/lib/modules/$KVER/modules.dep"
cp "$MODDIR/modules.builtin" "$ROOT/lib/modules/$KVER/"

{
    echo "kernel $(dpkg-deb -f "$kdeb" Package) $(dpkg-deb -f "$kdeb" Version)"
    echo "busybox $(dpkg-deb -f "$bdeb" Package) $(dpkg-deb -f "$bdeb" Version)"
    # shellcheck disable=SC2086
    echo "modules $(echo $LOAD | wc -w)"
} >"$ROOT/etc/ferry-linux-guest"

# newc ENTRY NAME MODE MAJOR MINOR INO: one cpio "newc" header and name,
# padded to 4 bytes, for an entry without data.  It makes /dev/console, a
# device node, without mknod (and so without root): the kernel opens it
# for init's standard streams before init runs.
newc() {
    nsz=$((${#1} + 1))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        "$5" "$2" 0 0 1 0 0 0 0 "$3" "$4" "$nsz" 0
    printf '%s\0' "$1"
    pad=$(((4 - (110 + nsz) % 4) % 4))
    [ "$pad" -eq 0 ] || head -c "$pad" /dev/zero
}
{
    newc dev $((040755)) 0 0 1
    newc dev/console $((020600)) 5 1 2
    newc 'TRAILER!!!' 0 0 0 0
    # The kernel unpacks archives one after the other: the second one,
    # the tree, adds to the first.
    (cd "$ROOT" && find . | LC_ALL=C sort | "$BB" cpio -o -H newc -R 0:0 2>/dev/null)
} | gzip -9 -n >"$WORK/initramfs.cpio.gz" || die "packing the initramfs failed"

cp "$KIMAGE" "$WORK/vmlinuz"
{
    cat "$ROOT/etc/ferry-linux-guest"
    echo "kernel-deb $kdeb"
    echo "busybox-deb $bdeb"
    for path in $LOAD; do
        echo "module $path"
    done
} >"$WORK/linux-guest.txt"
mv -f "$WORK/vmlinuz" "$VMLINUZ"
mv -f "$WORK/vmlinux" "$VMLINUX"
mv -f "$WORK/linux-guest.txt" "$INFO"
mv -f "$WORK/initramfs.cpio.gz" "$INITRD"
# Its mtime is the build's: up_to_date() compares with it.
touch "$INITRD"
say "built in $OUT: vmlinuz $(wc -c <"$VMLINUZ") bytes, vmlinux $(wc -c <"$VMLINUX") bytes," \
    "initramfs.cpio.gz $(wc -c <"$INITRD") bytes; kernel $KVER"
