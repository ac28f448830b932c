package inputs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/herdmon/herd/internal/models"
)

// netDev is one interface line of /proc/net/dev.
type netDev struct {
	name                                    string
	bytesRecv, packetsRecv, errIn, dropIn   uint64
	bytesSent, packetsSent, errOut, dropOut uint64
}

// parseNetDev reads /proc/net/dev: two header lines, then
// "iface: rx_bytes rx_packets rx_errs rx_drop fifo frame compressed
// multicast tx_bytes tx_packets tx_errs tx_drop ...".
func parseNetDev(data []byte, dst []netDev) []netDev {
	dst = dst[:0]
	var words [][]byte
	eachLine(data, func(line []byte) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return
		}
		words = fieldsOf(rest, words)
		if len(words) < 12 {
			return
		}
		var v [12]uint64
		for i := range v {
			n, ok := parseU(words[i])
			if !ok {
				return
			}
			v[i] = n
		}
		dst = append(dst, netDev{
			name:      string(bytes.TrimSpace(name)),
			bytesRecv: v[0], packetsRecv: v[1], errIn: v[2], dropIn: v[3],
			bytesSent: v[8], packetsSent: v[9], errOut: v[10], dropOut: v[11],
		})
	})
	return dst
}

// Linux interface flags (include/uapi/linux/if.h).
const (
	iffUp       = 0x1
	iffLoopback = 0x8
)

// Net reports Telegraf's net measurement per interface (tag interface).
// Like Telegraf, it skips loopback interfaces and interfaces that are down
// (read from /sys/class/net/<iface>/flags) unless Interfaces names them.
type Net struct {
	env *Env
	// Interfaces, when set, lists the interfaces to report regardless of
	// their state.
	Interfaces []string
	cur        []netDev
}

// Name implements Input.
func (n *Net) Name() string { return "net" }

// Gather implements Input.
func (n *Net) Gather(ctx context.Context, acc *Accumulator) error {
	data, err := os.ReadFile(n.env.proc("net", "dev"))
	if err != nil {
		return fmt.Errorf("read network counters: %w", err)
	}
	n.cur = parseNetDev(data, n.cur)
	for _, d := range n.cur {
		if len(n.Interfaces) > 0 {
			found := false
			for _, want := range n.Interfaces {
				found = found || want == d.name
			}
			if !found {
				continue
			}
		} else {
			s, err := readTrim(n.env.sys("class", "net", d.name, "flags"))
			if err != nil {
				continue
			}
			flags, err := strconv.ParseUint(s, 0, 64)
			if err != nil || flags&iffLoopback != 0 || flags&iffUp == 0 {
				continue
			}
		}
		speed := int64(-1)
		if s, err := readTrim(n.env.sys("class", "net", d.name, "speed")); err == nil {
			if v, err := strconv.ParseInt(s, 10, 64); err == nil {
				speed = v
			}
		}
		acc.Add("net", models.Tags{{Key: "interface", Value: d.name}}, []models.Field{
			intField("bytes_sent", d.bytesSent),
			intField("bytes_recv", d.bytesRecv),
			intField("packets_sent", d.packetsSent),
			intField("packets_recv", d.packetsRecv),
			intField("err_in", d.errIn),
			intField("err_out", d.errOut),
			intField("drop_in", d.dropIn),
			intField("drop_out", d.dropOut),
			models.IntegerField("speed", speed),
		})
	}
	return nil
}
