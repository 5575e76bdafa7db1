# shellcheck shell=sh
# The dev stand-in for `mount`, laid over /usr/bin/mount inside the dev namespace only (written
# out by lib/dev/standins/install.ts with STANDIN_LOG set in front of this text). start-sdk runs
# `mount --rbind /dev|/sys|/run <rootfs>/...` for every SubContainer and `mount --rbind
# /media/startos/backup <rootfs>/backup-target` for database backups: a real one would put the
# machine's /dev under the dev root. This one records the call, mounts nothing and exits 0.
printf 'mount\trecorded\t%s (nothing mounted)\n' "$*" >>"$STANDIN_LOG"
exit 0
