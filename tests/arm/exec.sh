#!/bin/sh
# go test -exec program of the ARM pass (make test-arm): runs a test
# binary cross-compiled for GOARCH=arm (GOARM=6/7) or arm64 under
# qemu-user, named explicitly rather than through binfmt_misc, which a
# container without systemd has not registered. The emulator's CPU is the
# Pi's own (ARM1176 on a Pi Zero/1, Cortex-A7 on a Pi 2, Cortex-A53 on a
# Pi 3), so an instruction the Go toolchain must not emit for GOARM=6
# fails here as it would on the board.
#
# HERD_TEST_EXEC_WRAPPER carries the emulator's command line into the
# tests: a test that starts a child process built for this platform (the
# test binary again, or a herd binary it built) starts it through the
# same emulator (internal/testutil.Command).
set -eu
case "${GOARCH:-}" in
arm)
	case "${GOARM:-7}" in
	6*) emu="qemu-arm-static -cpu arm1176" ;;
	*) emu="qemu-arm-static -cpu cortex-a7" ;;
	esac ;;
arm64) emu="qemu-aarch64-static -cpu cortex-a53" ;;
*)
	echo "tests/arm/exec.sh: GOARCH=${GOARCH:-unset}; run under GOARCH=arm or arm64 (make test-arm)" >&2
	exit 2 ;;
esac
export HERD_TEST_EXEC_WRAPPER="$emu"
exec $emu "$@"
