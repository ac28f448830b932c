//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"syscall"
)

// ReleaseStartupMemory gives back memory that only start-up needed, so
// the steady-state resident set is the agent's working set:
//
//   - The pages of the herd binary mapped so far. The one binary also
//     holds the server, the deployer and their package initialisers, and
//     the kernel maps file pages in 64 KiB windows around each fault
//     (fault-around), so by the first collection about 9 MiB of the 12 MiB
//     binary's code and read-only data are resident although the agent's
//     loop touches about 2 MiB of it (4–6 MiB once fault-around has
//     mapped the windows around those pages again). MADV_DONTNEED on the read-only
//     mappings of the executable drops them from this process only (they
//     stay in the page cache); whatever the loop needs is faulted back in
//     from the cache at the next collection. Writable mappings are never
//     touched: DONTNEED would discard their contents.
//   - The heap's free spans (debug.FreeOSMemory), left by start-up's
//     configuration parsing and the first collection.
//
// It returns the bytes of binary mapping advised. Safe to call at any time;
// errors only mean less memory was released.
func ReleaseStartupMemory() (int64, error) {
	debug.FreeOSMemory()
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	var total int64
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// "00400000-00965000 r-xp 00000000 fe:00 10015981   /path/to/herd"
		f := bytes.Fields(sc.Bytes())
		if len(f) < 6 || string(f[5]) != exe || len(f[1]) < 2 || f[1][1] == 'w' {
			continue
		}
		dash := bytes.IndexByte(f[0], '-')
		if dash < 0 {
			continue
		}
		start, err1 := strconv.ParseUint(string(f[0][:dash]), 16, 64)
		end, err2 := strconv.ParseUint(string(f[0][dash+1:]), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); errno != 0 {
			return total, &os.SyscallError{Syscall: "madvise", Err: errno}
		}
		total += int64(end - start)
	}
	return total, nil
}
