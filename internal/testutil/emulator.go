package testutil

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/herdmon/herd/internal/buildinfo"
)

// ExecWrapperEnv names the environment variable through which the ARM
// test pass (tests/arm/exec.sh) tells the tests the emulator that runs
// them, as a command line such as "qemu-arm-static -cpu arm1176". Without
// binfmt_misc (a container without systemd) the kernel cannot execute an
// ARM binary itself, so a test that starts one must start it through the
// emulator: Command and CommandContext do.
const ExecWrapperEnv = "HERD_TEST_EXEC_WRAPPER"

// Emulator returns the emulator command line the tests run under, or nil
// when they run natively.
func Emulator() []string {
	return strings.Fields(os.Getenv(ExecWrapperEnv))
}

// Command is exec.Command for a program built for the platform this test
// runs on: the test binary itself (os.Args[0], for self-exec crash
// tests) or a herd binary built with BuildEnv. Under an emulator the
// program runs through it. qemu-user runs the program inside its own
// process, so the Cmd's Process is the program's: SIGKILL, exit codes and
// pipes behave as they do natively, and the kill -9 tests test the same
// thing on ARM.
func Command(name string, args ...string) *exec.Cmd {
	name, args = throughEmulator(name, args)
	return exec.Command(name, args...)
}

// CommandContext is Command with exec.CommandContext's cancellation.
func CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	name, args = throughEmulator(name, args)
	return exec.CommandContext(ctx, name, args...)
}

func throughEmulator(name string, args []string) (string, []string) {
	emu := Emulator()
	if len(emu) == 0 {
		return name, args
	}
	full := make([]string, 0, len(emu)-1+1+len(args))
	full = append(full, emu[1:]...)
	full = append(full, name)
	full = append(full, args...)
	return emu[0], full
}

// BuildEnv is the environment for a `go build` whose binary a test runs
// with Command: CGO_ENABLED=0, as herd is released, and the GOOS, GOARCH
// and GOARM (GOARM64, GOAMD64, ...) this test binary was built for, so
// that a test compiled for armv6 builds and runs an armv6 herd even when
// its environment does not say so (a test binary built with go test -c
// and run under qemu by hand).
func BuildEnv() []string {
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if v := buildinfo.ArchLevel(); v != "" {
		env = append(env, "GO"+strings.ToUpper(runtime.GOARCH)+"="+v)
	}
	return env
}

// EmulationSlowdown is how many times slower code runs under the ARM
// pass's emulator than natively: qemu-user on the 2-core test machine
// runs lineproto's BenchmarkParse 10-12 times slower (armv6, arm64),
// doubled for a machine shared with other work.
const EmulationSlowdown = 20

// Patience scales a test's wall-clock bound ("answers within 2s") for
// the platform: d natively, d × EmulationSlowdown under an emulator, so
// that a bound meant to catch a quadratic algorithm or a missed deadline
// check does not fail on emulation's constant factor.
func Patience(d time.Duration) time.Duration {
	if len(Emulator()) > 0 {
		return d * EmulationSlowdown
	}
	return d
}
