package inputs

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/herdmon/herd/internal/models"
)

// get_throttled bits (raspberrypi/linux firmware interface): 0-3 are the
// state now, 16-19 the same conditions since boot.
const (
	throttleUnderVoltage = 1 << 0
	throttleFreqCapped   = 1 << 1
	throttleThrottled    = 1 << 2
	throttleSoftTemp     = 1 << 3
	throttleOccurredBits = 16
)

// RPi reports the health of a Raspberry Pi as measurement rpi, tag model
// (from /proc/device-tree/model), one boolean field per firmware flag:
//
//	under_voltage, freq_capped, throttled, soft_temp_limit           now
//	under_voltage_occurred, freq_capped_occurred, throttled_occurred,
//	soft_temp_limit_occurred                                         since boot
//
// plus throttled_raw (the get_throttled word) and arm_freq_hz (the current
// ARM clock). under_voltage also reads hwmon rpi_volt in0_lcrit_alarm, the
// kernel's supported interface. The flags come from
// /sys/devices/platform/soc/soc:firmware/get_throttled, or from
// `vcgencmd get_throttled` where neither file exists. On other machines the
// input reports nothing.
type RPi struct{ env *Env }

// Name implements Input.
func (r *RPi) Name() string { return "rpi" }

// parseThrottled reads "0x50005", "50005" (sysfs prints hex without a
// prefix) or vcgencmd's "throttled=0x50005".
func parseThrottled(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "throttled=")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse get_throttled %q: %w", s, err)
	}
	return uint32(v), nil
}

// Gather implements Input.
func (r *RPi) Gather(ctx context.Context, acc *Accumulator) error {
	model, _ := readTrim(r.env.proc("device-tree", "model"))
	isPi := strings.HasPrefix(model, "Raspberry Pi")

	alarm, hasAlarm := r.voltAlarm()
	var throttled uint32
	hasThrottled := false
	if s, err := readTrim(r.env.sys("devices", "platform", "soc", "soc:firmware", "get_throttled")); err == nil {
		v, err := parseThrottled(s)
		if err != nil {
			return err
		}
		throttled, hasThrottled = v, true
	} else if !hasAlarm && isPi {
		if v, err := r.vcgencmdThrottled(ctx); err == nil {
			throttled, hasThrottled = v, true
		} else if !errors.Is(err, exec.ErrNotFound) {
			r.env.logger().Warn("read raspberry pi throttling flags", "err", err)
		}
	}
	if !isPi && !hasAlarm && !hasThrottled {
		return nil
	}

	var fields []models.Field
	if hasAlarm || hasThrottled {
		fields = append(fields, models.BooleanField("under_voltage", alarm || throttled&throttleUnderVoltage != 0))
	}
	if hasThrottled {
		flag := func(key string, bit uint32) {
			fields = append(fields,
				models.BooleanField(key, throttled&bit != 0),
				models.BooleanField(key+"_occurred", throttled&(bit<<throttleOccurredBits) != 0))
		}
		fields = append(fields, models.BooleanField("under_voltage_occurred", throttled&(throttleUnderVoltage<<throttleOccurredBits) != 0))
		flag("freq_capped", throttleFreqCapped)
		flag("throttled", throttleThrottled)
		flag("soft_temp_limit", throttleSoftTemp)
		fields = append(fields, models.IntegerField("throttled_raw", int64(throttled)))
	}
	if khz, err := readUint(r.env.sys("devices", "system", "cpu", "cpu0", "cpufreq", "scaling_cur_freq")); err == nil {
		fields = append(fields, intField("arm_freq_hz", khz*1000))
	}
	var tags models.Tags
	if model != "" {
		tags = models.Tags{{Key: "model", Value: model}}
	}
	if len(fields) == 0 {
		return nil
	}
	acc.Add("rpi", tags, fields)
	return nil
}

// voltAlarm reads in0_lcrit_alarm of the rpi_volt hwmon device.
func (r *RPi) voltAlarm() (alarm, ok bool) {
	names, _ := filepath.Glob(r.env.sys("class", "hwmon", "hwmon*", "name"))
	for _, n := range names {
		if v, _ := readTrim(n); v != "rpi_volt" {
			continue
		}
		a, err := readUint(filepath.Join(filepath.Dir(n), "in0_lcrit_alarm"))
		if err != nil {
			return false, false
		}
		return a != 0, true
	}
	return false, false
}

// vcgencmdTimeout bounds the firmware query; vcgencmd talks to the
// VideoCore mailbox and normally answers in milliseconds.
const vcgencmdTimeout = 2 * time.Second

func (r *RPi) vcgencmdThrottled(ctx context.Context) (uint32, error) {
	if r.env.LookPath == nil || r.env.Exec == nil {
		return 0, exec.ErrNotFound
	}
	path, err := r.env.LookPath("vcgencmd")
	if err != nil {
		return 0, exec.ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, vcgencmdTimeout)
	defer cancel()
	out, err := r.env.Exec(ctx, path, "get_throttled")
	if err != nil {
		return 0, fmt.Errorf("vcgencmd get_throttled: %w", err)
	}
	return parseThrottled(string(out))
}

func lookPath(name string) (string, error) { return exec.LookPath(name) }

func execOutput(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).Output()
}
