package inputs

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/herdmon/herd/internal/models"
)

// Temp reports Telegraf's temp measurement (its default metric_format v2):
// one point per hwmon temperature sensor, tag sensor = chip name plus the
// sensor's label ("coretemp_core_0"; on a Raspberry Pi "cpu_thermal"),
// field temp in degrees Celsius. Thermal zones are read when no hwmon
// sensor exists, or in addition when ThermalZones is set.
type Temp struct {
	env          *Env
	ThermalZones bool
}

// Name implements Input.
func (t *Temp) Name() string { return "temp" }

// Gather implements Input.
func (t *Temp) Gather(ctx context.Context, acc *Accumulator) error {
	n := len(acc.Points)
	t.gatherHwmon(acc)
	if len(acc.Points) == n || t.ThermalZones {
		t.gatherZones(acc)
	}
	return nil
}

func (t *Temp) gatherHwmon(acc *Accumulator) {
	sensors, _ := filepath.Glob(t.env.sys("class", "hwmon", "hwmon*", "temp*_input"))
	if len(sensors) == 0 {
		// Older kernels put the files under device/.
		sensors, _ = filepath.Glob(t.env.sys("class", "hwmon", "hwmon*", "device", "temp*_input"))
	}
	for _, s := range sensors {
		dir := filepath.Dir(s)
		prefix, _, _ := strings.Cut(filepath.Base(s), "_")
		name := ""
		if link, err := os.Readlink(filepath.Join(dir, "device")); err == nil {
			name = filepath.Base(link)
		}
		if v, err := readTrim(filepath.Join(dir, "name")); err == nil {
			name = v
		}
		sensor := name
		if label, err := readTrim(filepath.Join(dir, prefix+"_label")); err == nil && label != "" {
			sensor += "_" + strings.ReplaceAll(strings.ToLower(label), " ", "_")
		}
		raw, err := readTrim(s)
		if err != nil {
			continue // the sensor sleeps or vanished
		}
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			continue
		}
		acc.Add("temp", models.Tags{{Key: "sensor", Value: sensor}}, []models.Field{floatField("temp", v/1000)})
	}
}

func (t *Temp) gatherZones(acc *Accumulator) {
	zones, _ := filepath.Glob(t.env.sys("class", "thermal", "thermal_zone*"))
	for _, z := range zones {
		name, err := readTrim(filepath.Join(z, "type"))
		if err != nil {
			continue
		}
		raw, err := readTrim(filepath.Join(z, "temp"))
		if err != nil {
			continue
		}
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			continue
		}
		acc.Add("temp", models.Tags{{Key: "sensor", Value: name}}, []models.Field{floatField("temp", v/1000)})
	}
}
